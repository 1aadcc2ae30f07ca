//! GA, PA, FGA and FTA exactly as the Loghub-2.0 benchmark computes them, and the template
//! normalisation applied before template texts are compared.
//!
//! Reference code (logpai/loghub-2.0, `benchmark/`):
//! - GA, FGA: `logparser/utils/evaluator.py` (`evaluate`, `get_accuracy`);
//! - PA: `evaluation/utils/PA_calculator.py` (`calculate_parsing_accuracy`);
//! - FTA: `evaluation/utils/template_level_analysis.py` (`evaluate_template_level`);
//! - normalisation: `evaluation/utils/post_process.py` (`correct_single_template`), which the
//!   Loghub-2.0 parsers run over every template they output.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::EvalError;

/// Typed placeholders a masking tokenizer emits (`<NUM>`, `<IP>`, `<UUID>`, …). Ground truth only
/// knows `<*>`, so a typed placeholder must score exactly like `<*>`.
static TYPED_PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<[A-Z][A-Z0-9_]*>").expect("static regex"));
static WHITESPACE_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s+").expect("static regex"));
/// Python's `\d` on `str` is Unicode `Nd`, as is the `regex` crate's default `\d`.
static ALL_DIGITS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\d+$").expect("static regex"));

/// Characters `correct_single_template` splits on (its `token_delimiters`); whitespace is the
/// remaining member and is tested separately.
const TOKEN_DELIMITERS: &[char] = &[
    ',', '!', ';', ':', '=', '|', '"', '\'', '[', ']', '(', ')', '{', '}', '.', '-', '+', '@', '#',
    '$', '%', '&',
];

/// Literal rewrites `correct_single_template` applies after DV and CV, in its order; each is
/// repeated until the pattern no longer occurs.
const FINAL_REWRITES: &[(&str, &str)] = &[
    (" #<*># ", " <*> "),
    (" #<*> ", " <*> "),
    ("<*>:<*>", "<*>"),
    ("<*>#<*>", "<*>"),
    ("<*>/<*>", "<*>"),
    ("<*>@<*>", "<*>"),
    ("<*>.<*>", "<*>"),
    (" \"<*>\" ", " <*> "),
    (" '<*>' ", " <*> "),
    ("<*><*>", "<*>"),
];

/// Canonical form of a template for scoring: typed placeholders (`<NUM>`, `<IP>`, any
/// `<UPPERCASE>` name) become `<*>`, then Loghub-2.0's `correct_single_template`
/// (`evaluation/utils/post_process.py`) runs: whitespace runs collapse to one space (DS); a token
/// of digits becomes `<*>` (DG); a token holding `<*>` and no `/` becomes `<*>` (WV);
/// `<*>.<*>` and `<*><*>` collapse (DV, CV); then `<*>:<*>`, `<*>#<*>`, `<*>/<*>`, `<*>@<*>`,
/// `<*>.<*>`, `<*><*>` collapse to `<*>` and ` #<*># `, ` #<*> `, ` "<*>" `, ` '<*>' ` become
/// ` <*> `. Tokens are the maximal runs between the delimiters `\s , ! ; : = | " ' [ ] ( ) { }
/// . - + @ # $ % &`.
///
/// ```
/// use logoscope_eval::normalize_template;
/// assert_eq!(normalize_template("Took <NUM> ms  for blk_<*>"), "Took <*> ms for <*>");
/// assert_eq!(normalize_template("from <*>:<*> port 22"), "from <*> port <*>");
/// ```
pub fn normalize_template(template: &str) -> String {
    let typed = TYPED_PLACEHOLDER.replace_all(template, "<*>");
    let collapsed = WHITESPACE_RUN.replace_all(typed.trim(), " ");

    let mut out = String::with_capacity(collapsed.len());
    let mut token_start = 0;
    for (i, c) in collapsed.char_indices() {
        if c.is_whitespace() || TOKEN_DELIMITERS.contains(&c) {
            push_token(&collapsed[token_start..i], &mut out);
            out.push(c);
            token_start = i + c.len_utf8();
        }
    }
    push_token(&collapsed[token_start..], &mut out);

    for pattern in ["<*>.<*>", "<*><*>"] {
        replace_until_stable(&mut out, pattern, "<*>");
    }
    for (pattern, replacement) in FINAL_REWRITES {
        replace_until_stable(&mut out, pattern, replacement);
    }
    out
}

/// DG and WV of `correct_single_template`, applied to one token.
fn push_token(token: &str, out: &mut String) {
    let is_digits = ALL_DIGITS.is_match(token);
    // WV's pattern `^[^\s\/]*<\*>[^\s\/]*$`; whitespace cannot occur inside a token.
    let holds_variable = token.contains("<*>") && !token.contains('/');
    if is_digits || holds_variable {
        out.push_str("<*>");
    } else {
        out.push_str(token);
    }
}

/// Python's `while p in s: s = s.replace(p, r)`.
fn replace_until_stable(text: &mut String, pattern: &str, replacement: &str) {
    while text.contains(pattern) {
        *text = text.replace(pattern, replacement);
    }
}

/// Accuracy of one set of predicted templates against ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    /// Grouping Accuracy: fraction of labelled lines whose true group is predicted exactly.
    pub ga: f64,
    /// Parsing Accuracy: fraction of all lines whose normalised predicted template equals the
    /// normalised true template.
    pub pa: f64,
    /// Precision of grouping: exactly-predicted true groups / predicted groups.
    pub pga: f64,
    /// Recall of grouping: exactly-predicted true groups / true groups.
    pub rga: f64,
    /// F1 of `pga` and `rga`.
    pub fga: f64,
    /// Precision of templates: correct predicted templates / predicted templates.
    pub pta: f64,
    /// Recall of templates: correct predicted templates / true templates.
    pub rta: f64,
    /// F1 of `pta` and `rta`.
    pub fta: f64,
    /// Distinct predicted templates over the labelled lines.
    pub templates_predicted: usize,
    /// Distinct true templates.
    pub templates_truth: usize,
    /// Lines scored (the PA denominator).
    pub lines: usize,
    /// Lines with a ground-truth template (the GA denominator).
    pub labelled_lines: usize,
}

/// How the ground truth is read before scoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum TruthMode {
    /// As the Loghub-2.0 evaluator (`evaluation/utils/evaluator_main.py`): the ground-truth
    /// `EventTemplate` column is replaced by `correct_single_template` of itself before any
    /// metric runs, so true groups are the *corrected* texts (two labels that correct to the same
    /// text are one group) and texts are compared corrected. The parser's output is scored as
    /// it is; Logoscope's Loghub output is already post-processed ([`normalize_template`]), as
    /// the Loghub-2.0 parsers post-process theirs.
    #[default]
    Reference,
    /// Lenient, not the reference: true groups are the labels as written (uncorrected), and
    /// texts are compared after correcting both sides. Kept to compare with earlier reports.
    Lenient,
}

/// Scores `predicted` templates against `truth`, line by line, as the Loghub-2.0 evaluator does
/// ([`TruthMode::Reference`]; see [`score_with`]).
///
/// `truth[i]` is `None` where the ground truth has no template (an empty or pandas-NA cell);
/// such lines are left out of GA, FGA and FTA and count as wrong for PA, as in Loghub-2.0.
/// Predicted groups are the prediction texts: pass predictions through [`normalize_template`]
/// first, as a Loghub-2.0 parser post-processes its output.
pub fn score<P: AsRef<str>>(truth: &[Option<&str>], predicted: &[P]) -> Result<Scores, EvalError> {
    score_with(truth, predicted, TruthMode::Reference)
}

/// [`score`] with an explicit [`TruthMode`].
pub fn score_with<P: AsRef<str>>(
    truth: &[Option<&str>],
    predicted: &[P],
    mode: TruthMode,
) -> Result<Scores, EvalError> {
    if truth.len() != predicted.len() {
        return Err(EvalError::LengthMismatch {
            truth: truth.len(),
            predicted: predicted.len(),
        });
    }
    let mut corrected: HashMap<&str, String> = HashMap::new();
    for t in truth.iter().flatten() {
        corrected.entry(t).or_insert_with(|| normalize_template(t));
    }
    let labelled: Vec<(&str, &str)> = truth
        .iter()
        .zip(predicted)
        .filter_map(|(t, p)| {
            t.map(|t| {
                let key = match mode {
                    TruthMode::Reference => corrected[t].as_str(),
                    TruthMode::Lenient => t,
                };
                (key, p.as_ref())
            })
        })
        .collect();
    if labelled.is_empty() {
        return Err(EvalError::NoLabelledLines);
    }
    // Truth keys are corrected texts (reference) or labels (lenient); either way this maps a
    // key to the corrected text its lines are compared with.
    let normalized_truth: HashMap<&str, &str> = labelled
        .iter()
        .map(|&(t, _)| {
            let text = match mode {
                TruthMode::Reference => t,
                TruthMode::Lenient => corrected[t].as_str(),
            };
            (t, text)
        })
        .collect();

    // PA: pandas' `eq` over every row; NA truth never equals anything.
    let pa_hits = labelled
        .iter()
        .filter(|(t, p)| normalized_truth[t] == *p)
        .count();
    let pa = pa_hits as f64 / truth.len() as f64;

    let mut predicted_sizes: HashMap<&str, usize> = HashMap::new();
    for &(_, p) in &labelled {
        *predicted_sizes.entry(p).or_default() += 1;
    }

    // GA/FGA (`get_accuracy`): a true group counts when all its lines share one prediction and
    // that prediction labels no other line.
    struct TrueGroup<'a> {
        size: usize,
        prediction: &'a str,
        uniform: bool,
    }
    let mut true_groups: HashMap<&str, TrueGroup<'_>> = HashMap::new();
    for &(t, p) in &labelled {
        let group = true_groups.entry(t).or_insert(TrueGroup {
            size: 0,
            prediction: p,
            uniform: true,
        });
        group.size += 1;
        group.uniform &= group.prediction == p;
    }
    let (mut accurate_lines, mut accurate_groups) = (0usize, 0usize);
    for group in true_groups.values() {
        if group.uniform && predicted_sizes[group.prediction] == group.size {
            accurate_lines += group.size;
            accurate_groups += 1;
        }
    }
    let ga = accurate_lines as f64 / labelled.len() as f64;
    let pga = accurate_groups as f64 / predicted_sizes.len() as f64;
    let rga = accurate_groups as f64 / true_groups.len() as f64;

    // FTA (`evaluate_template_level`): a predicted group counts when its lines have one true
    // template and that template's text equals the prediction. Loghub-2.0 does not require the
    // true group to be wholly inside the predicted one; neither do we.
    let mut truths_per_prediction: HashMap<&str, HashSet<&str>> = HashMap::new();
    for &(t, p) in &labelled {
        truths_per_prediction.entry(p).or_default().insert(t);
    }
    let correct_templates = truths_per_prediction
        .iter()
        .filter(|(p, truths)| {
            truths.len() == 1 && truths.iter().all(|t| normalized_truth[t] == **p)
        })
        .count();
    let pta = correct_templates as f64 / truths_per_prediction.len() as f64;
    let rta = correct_templates as f64 / true_groups.len() as f64;

    Ok(Scores {
        ga,
        pa,
        pga,
        rga,
        fga: f1(pga, rga),
        pta,
        rta,
        fta: f1(pta, rta),
        templates_predicted: predicted_sizes.len(),
        templates_truth: true_groups.len(),
        lines: truth.len(),
        labelled_lines: labelled.len(),
    })
}

fn f1(precision: f64, recall: f64) -> f64 {
    if precision == 0.0 && recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(truth: &[&str], predicted: &[&str]) -> Scores {
        let truth: Vec<Option<&str>> = truth.iter().map(|t| Some(*t)).collect();
        score(&truth, predicted).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn perfect_prediction_scores_one_everywhere() {
        let s = run(&["a <*>", "a <*>", "b"], &["a <*>", "a <*>", "b"]);
        for m in [s.ga, s.pa, s.pga, s.rga, s.fga, s.pta, s.rta, s.fta] {
            assert!(close(m, 1.0), "{s:?}");
        }
        assert_eq!((s.templates_predicted, s.templates_truth), (2, 2));
    }

    #[test]
    fn everything_in_one_group() {
        let s = run(&["a <*>", "a <*>", "b", "c"], &["x", "x", "x", "x"]);
        assert!(close(s.ga, 0.0) && close(s.pa, 0.0));
        assert!(close(s.fga, 0.0) && close(s.fta, 0.0));
        assert_eq!((s.templates_predicted, s.templates_truth), (1, 3));
    }

    #[test]
    fn split_group() {
        // A is split over p1/p2; B is exact. GA 1/4, PGA 1/3, RGA 1/2, FGA 0.4.
        let s = run(&["A", "A", "A", "B"], &["p1", "p1", "p2", "B"]);
        assert!(close(s.ga, 0.25));
        assert!(close(s.pga, 1.0 / 3.0) && close(s.rga, 0.5));
        assert!(close(s.fga, 0.4));
        assert!(close(s.pa, 0.25));
        assert!(close(s.fta, 0.4));
    }

    #[test]
    fn right_groups_wrong_text_pa_below_ga() {
        let s = run(
            &["open <*>", "open <*>", "close <*>"],
            &["open a", "open a", "close <*>"],
        );
        assert!(close(s.ga, 1.0) && close(s.fga, 1.0));
        assert!(close(s.pa, 1.0 / 3.0));
        // Only "close <*>" is a correct template: PTA = RTA = 1/2.
        assert!(close(s.fta, 0.5));
    }

    #[test]
    fn over_general_template_pa_above_ga() {
        let s = run(&["a <*>", "a <*>", "b"], &["a <*>", "a <*>", "a <*>"]);
        assert!(close(s.pa, 2.0 / 3.0));
        assert!(close(s.ga, 0.0) && close(s.fga, 0.0));
        // The one predicted group mixes two truths.
        assert!(close(s.fta, 0.0));
    }

    #[test]
    fn fta_needs_right_text_for_a_right_group() {
        let s = run(&["A", "A", "B", "B"], &["A", "A", "Bx", "Bx"]);
        assert!(close(s.ga, 1.0) && close(s.fga, 1.0));
        assert!(close(s.pa, 0.5));
        assert!(close(s.pta, 0.5) && close(s.rta, 0.5) && close(s.fta, 0.5));
    }

    #[test]
    fn fta_counts_a_pure_group_even_when_its_truth_is_split() {
        // Loghub-2.0 quirk kept on purpose: predicted "A" holds only truth A with text A, so it
        // counts, though one A line went to "Z". PTA 1/2, RTA 1/1, FTA 2/3; GA 0.
        let s = run(&["A", "A", "A"], &["A", "A", "Z"]);
        assert!(close(s.ga, 0.0));
        assert!(close(s.pta, 0.5) && close(s.rta, 1.0));
        assert!(close(s.fta, 2.0 / 3.0));
    }

    #[test]
    fn unlabelled_lines_only_count_against_pa() {
        let truth = [Some("A"), None, Some("B")];
        let s = score(&truth, &["A", "X", "B"]).unwrap();
        assert!(close(s.ga, 1.0) && close(s.fga, 1.0) && close(s.fta, 1.0));
        assert!(close(s.pa, 2.0 / 3.0));
        assert_eq!((s.lines, s.labelled_lines), (3, 2));
    }

    #[test]
    fn truth_text_is_compared_after_normalisation() {
        // Loghub truth keeps `<*>:<*>`, which post-processing collapses in predictions.
        let s = run(
            &["from <*>:<*>"],
            &[normalize_template("from <IP>:<NUM>").as_str()],
        );
        assert!(close(s.pa, 1.0) && close(s.fta, 1.0));
    }

    #[test]
    fn reference_groups_truth_by_corrected_text() {
        // Two labels that correct to one text are one true group in the reference (as the
        // Loghub-2.0 evaluator replaces the column), two in the lenient mode.
        let truth = [Some("send 12"), Some("send <*>"), Some("b")];
        let predicted = ["send <*>", "send <*>", "b"];
        let reference = score(&truth, &predicted).unwrap();
        assert!(close(reference.ga, 1.0) && close(reference.fta, 1.0));
        assert_eq!(reference.templates_truth, 2);
        let lenient = score_with(&truth, &predicted, TruthMode::Lenient).unwrap();
        assert!(close(lenient.ga, 1.0 / 3.0));
        assert_eq!(lenient.templates_truth, 3);
        // PA compares the corrected texts either way.
        assert!(close(reference.pa, 1.0) && close(lenient.pa, 1.0));
    }

    #[test]
    fn score_rejects_bad_input() {
        assert!(matches!(
            score(&[Some("a")], &["a", "b"]),
            Err(EvalError::LengthMismatch { .. })
        ));
        assert!(matches!(
            score(&[None], &["a"]),
            Err(EvalError::NoLabelledLines)
        ));
    }

    #[test]
    fn normalisation_rules() {
        let cases = [
            ("  a \t b  ", "a b"),
            ("took 123 ms", "took <*> ms"),
            ("v1.2", "v1.<*>"),
            ("block blk_<*> ok", "block <*> ok"),
            ("path /<*>/x", "path /<*>/x"),
            ("<*>/<*>", "<*>"),
            ("ip=<*>.<*>.<*>.<*>", "ip=<*>"),
            ("<*><*> and <*> <*>", "<*> and <*> <*>"),
            (
                "<*>:<*> open through proxy <*>:<*> HTTPS",
                "<*> open through proxy <*> HTTPS",
            ),
            ("user \"<*>\" and '<*>' end", "user <*> and <*> end"),
            ("id #<*># x", "id <*> x"),
            ("<NUM> <IP> <UUID> <HEX_ID>", "<*> <*> <*> <*>"),
            ("<*>@<*>", "<*>"),
            ("keep <Mixed> <lower> <*>", "keep <Mixed> <lower> <*>"),
            ("٣٤ digits", "<*> digits"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_template(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn normalisation_is_idempotent_on_examples() {
        for t in ["a <*>:<*>:<*> b", "x=<*>,y=<*>", "[<*>] <*>.<*>#<*>"] {
            let once = normalize_template(t);
            assert_eq!(normalize_template(&once), once);
        }
    }
}
