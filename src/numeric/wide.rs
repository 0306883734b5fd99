//! Hot loops compiled twice, for the x86-64 baseline (SSE2) and with AVX2, the copy chosen at
//! run time by what the CPU has.
//!
//! Why this keeps the replay promise (the same bits on every x86-64 machine): Rust never
//! contracts a multiply and an add into a fused multiply-add (and FMA is not enabled here), and
//! the compiler vectorises only element-wise work (it never reassociates a floating-point
//! reduction), so the wider registers perform the same IEEE operations on the same operands in
//! the same order. Each twin's tests compare it with its portable copy bit for bit.

/// Whether this CPU has AVX2 (`std` caches the answer).
#[inline]
pub fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `avx2_twin!(pub fn name(args) = portable);` defines `name`, which calls `portable` (an
/// `#[inline(always)]` function, so that it is compiled into each copy) built with AVX2 when
/// the CPU has it, and as it is otherwise.
macro_rules! avx2_twin {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $portable:path) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn wide($($arg: $ty),*) $(-> $ret)? {
                    $portable($($arg),*)
                }
                if $crate::numeric::wide::avx2() {
                    // SAFETY: the CPU supports AVX2 (checked just above), the only
                    // requirement of a `#[target_feature(enable = "avx2")]` function.
                    return unsafe { wide($($arg),*) };
                }
            }
            $portable($($arg),*)
        }
    };
}
pub(crate) use avx2_twin;
