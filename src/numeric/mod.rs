//! Plain numerics with no domain knowledge: dense linear algebra, ridge regression, and the
//! named random streams every random choice flows from. The lowest layer.

pub mod eigen_leading;
pub mod eigen_top;
pub mod linalg;
pub mod ridge;
pub mod seed;
pub mod wide;
