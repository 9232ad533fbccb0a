//! Score normalisation shared by plugins: kube-scheduler's
//! `DefaultNormalizeScore` helper.

use crate::MAX_NODE_SCORE;

/// Scales scores onto `0..=MAX_NODE_SCORE` as `MAX_NODE_SCORE * score / max`
/// (integer division, as upstream), then, if `reverse`, takes
/// `MAX_NODE_SCORE -` that, so that the lowest raw score wins. When the
/// highest score is 0, scores stay as they are, or all become
/// `MAX_NODE_SCORE` if reversed.
///
/// ```
/// let mut scores = [1, 2, 3];
/// kws_plugin_sdk::default_normalize_score(&mut scores, false);
/// assert_eq!(scores, [33, 66, 100]);
/// kws_plugin_sdk::default_normalize_score(&mut scores, true);
/// assert_eq!(scores, [67, 34, 0]);
/// ```
pub fn default_normalize_score(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().fold(0, i64::max);
    for score in scores.iter_mut() {
        if max == 0 {
            if reverse {
                *score = MAX_NODE_SCORE;
            }
            continue;
        }
        let scaled = MAX_NODE_SCORE * *score / max;
        *score = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_to_the_best_node_with_integer_division() {
        let mut scores = [10, 25, 0];
        default_normalize_score(&mut scores, false);
        // max 25: 100*10/25 = 40, 100, 0.
        assert_eq!(scores, [40, 100, 0]);
        let mut zeros = [0, 0];
        default_normalize_score(&mut zeros, false);
        assert_eq!(zeros, [0, 0]);
    }

    #[test]
    fn reversed_prefers_the_lowest() {
        let mut scores = [0, 1, 3];
        default_normalize_score(&mut scores, true);
        // max 3: 100 - 0 = 100, 100 - 33 = 67, 100 - 100 = 0.
        assert_eq!(scores, [100, 67, 0]);
        let mut zeros = [0, 0];
        default_normalize_score(&mut zeros, true);
        assert_eq!(zeros, [100, 100]);
    }
}
