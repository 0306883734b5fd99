//! Property tests of preference aggregation.

use pertaudit::judge::preference::{item_scores, summarise, win_rate, Outcome, Verdict};
use pertaudit::stats::{cohen_kappa, fleiss_kappa, krippendorff_alpha_nominal};
use proptest::prelude::*;

fn outcome(k: u8) -> Outcome {
    [Outcome::A, Outcome::B, Outcome::Tie, Outcome::Failure][k as usize % 4]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn win_rates_of_a_pair_sum_to_one(raw in proptest::collection::vec((0u8..4, 0u8..4, any::<bool>()), 1..40)) {
        let mut vs = Vec::new();
        for (i, (w1, w2, flip)) in raw.iter().enumerate() {
            let (a, b) = if *flip { ("s", "t") } else { ("t", "s") };
            vs.push(Verdict { item: format!("i{i}"), judge: "j".into(), order: "1".into(), strategy_a: a.into(), strategy_b: b.into(), winner: outcome(*w1), trajectory: None, context: None });
            vs.push(Verdict { item: format!("i{i}"), judge: "j".into(), order: "2".into(), strategy_a: b.into(), strategy_b: a.into(), winner: outcome(*w2), trajectory: None, context: None });
        }
        let sums = summarise(&item_scores(&vs), 200, 3, 0.05);
        if let (Some(st), Some(ts)) = (win_rate(&sums, "s", "t"), win_rate(&sums, "t", "s")) {
            prop_assert!((st + ts - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn identical_raters_agree_perfectly(r in proptest::collection::vec(0usize..3, 2..40)) {
        prop_assume!(r.iter().any(|&x| x != r[0]));
        prop_assert!((cohen_kappa(&r, &r, 3) - 1.0).abs() < 1e-12);
        let counts: Vec<Vec<f64>> = r.iter().map(|&x| { let mut c = vec![0.0; 3]; c[x] = 3.0; c }).collect();
        prop_assert!((fleiss_kappa(&counts) - 1.0).abs() < 1e-12);
        let data = vec![r.iter().map(|&x| Some(x)).collect::<Vec<_>>(); 3];
        prop_assert!((krippendorff_alpha_nominal(&data) - 1.0).abs() < 1e-12);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Bradley–Terry strengths do not depend on the order of the items.
    #[test]
    fn bradley_terry_is_invariant_to_item_order(raw in proptest::collection::vec((0u8..3, 0u8..3, 0u8..3), 6..40), rot in 0usize..40) {
        use pertaudit::judge::preference::{item_scores, strengths_half, Verdict};
        let names = ["bald", "llm", "random"];
        let mut vs: Vec<Verdict> = raw
            .iter()
            .enumerate()
            .filter(|(_, (a, b, _))| a != b)
            .map(|(i, (a, b, w))| Verdict {
                item: format!("i{i}"),
                judge: "j".into(),
                order: "1".into(),
                strategy_a: names[*a as usize].into(),
                strategy_b: names[*b as usize].into(),
                winner: outcome(*w),
                trajectory: None,
                context: None,
            })
            .collect();
        prop_assume!(!vs.is_empty());
        let first = strengths_half(&item_scores(&vs), 0, 0, 0.05);
        let k = rot % vs.len();
        vs.rotate_left(k);
        vs.reverse();
        let second = strengths_half(&item_scores(&vs), 0, 0, 0.05);
        prop_assert_eq!(first.note.is_some(), second.note.is_some());
        for (x, y) in first.theta.iter().zip(&second.theta) {
            prop_assert!((x - y).abs() < 1e-9);
        }
    }
}
