//! Rebuilding a message from a template and its parameters.

use std::ops::Range;

use crate::mask::literal_placeholder;

/// Renders `template`, replacing each placeholder (`<*>`, `<NUM>`, `<IP>`, …;
/// see [`crate::PLACEHOLDERS`]) by the next parameter in order.
///
/// Placeholders left over once `params` run out stay as they are; extra
/// parameters are ignored.
///
/// ```
/// let s = logoscope_drain::render("user <*> took <NUM>", &["bob", "12ms"]);
/// assert_eq!(s, "user bob took 12ms");
/// ```
pub fn render(template: &str, params: &[&str]) -> String {
    let extra: usize = params.iter().map(|p| p.len()).sum();
    let mut out = String::with_capacity(template.len() + extra);
    render_into(template, &mut params.iter().copied(), &mut out);
    out
}

/// Appends the rendering of `template` to `out`, taking parameters from
/// `params` (see [`render`]). `out` is not cleared, so callers can reuse one
/// buffer across rows.
pub fn render_into(template: &str, params: &mut dyn Iterator<Item = &str>, out: &mut String) {
    let mut last = 0;
    for (span, p) in placeholders(template).zip(params) {
        out.push_str(&template[last..span.start]);
        out.push_str(p);
        last = span.end;
    }
    out.push_str(&template[last..]);
}

/// Whether [`render_into`] would give exactly `expected`, found without
/// building the rendering: the template's text and the parameters are
/// compared piece by piece against `expected`, stopping at the first
/// difference.
///
/// ```
/// use logoscope_drain::renders_as;
/// assert!(renders_as("user <*> took <NUM>", ["bob", "12ms"], "user bob took 12ms"));
/// assert!(!renders_as("user <*> took <NUM>", ["bob", "12ms"], "user bob took 12"));
/// ```
pub fn renders_as<'p>(
    template: &str,
    params: impl IntoIterator<Item = &'p str>,
    expected: &str,
) -> bool {
    renders_with(template, placeholders(template), params, expected)
}

/// The placeholders' byte ranges in `template`, found once for
/// [`renders_at`].
pub(crate) fn placeholder_spans(template: &str) -> Box<[(u32, u32)]> {
    placeholders(template)
        .map(|r| (r.start as u32, r.end as u32))
        .collect()
}

/// [`renders_as`] with the placeholders of `template` already found.
pub(crate) fn renders_at<'p>(
    template: &str,
    spans: &[(u32, u32)],
    params: impl IntoIterator<Item = &'p str>,
    expected: &str,
) -> bool {
    let spans = spans.iter().map(|&(s, e)| s as usize..e as usize);
    renders_with(template, spans, params, expected)
}

fn renders_with<'p>(
    template: &str,
    spans: impl Iterator<Item = Range<usize>>,
    params: impl IntoIterator<Item = &'p str>,
    expected: &str,
) -> bool {
    let e = expected.as_bytes();
    let mut at = 0;
    let mut take = |piece: &str| {
        let end = at + piece.len();
        let ok = e.get(at..end) == Some(piece.as_bytes());
        at = end;
        ok
    };
    let mut last = 0;
    for (span, p) in spans.zip(params) {
        if !take(&template[last..span.start]) || !take(p) {
            return false;
        }
        last = span.end;
    }
    take(&template[last..]) && at == e.len()
}

/// Number of placeholders in `template`, i.e. how many parameters
/// [`render`] consumes.
pub fn placeholder_count(template: &str) -> usize {
    placeholders(template).count()
}

/// The byte ranges of the placeholders in `template`, in order.
fn placeholders(template: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let b = template.as_bytes();
    let mut from = 0;
    std::iter::from_fn(move || {
        while let Some(off) = memchr::memchr(b'<', &b[from..]) {
            let i = from + off;
            match literal_placeholder(&b[i..]) {
                Some(len) => {
                    from = i + len;
                    return Some(i..i + len);
                }
                None => from = i + 1,
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_in_order() {
        assert_eq!(render("<*> a <NUM>:<IP>", &["x", "1", "2"]), "x a 1:2");
        // User-mask names are placeholders too; lowercase or unclosed are not.
        assert_eq!(
            render("<TICKET> but not <nope>, <No>, <A-B> or <", &["x"]),
            "x but not <nope>, <No>, <A-B> or <"
        );
    }

    #[test]
    fn missing_and_extra_params() {
        assert_eq!(render("<*> <*>", &["a"]), "a <*>");
        assert_eq!(render("<*>", &["a", "b"]), "a");
    }

    #[test]
    fn render_into_appends() {
        let mut out = String::from(">");
        render_into("<<NUM>>", &mut ["7"].into_iter(), &mut out);
        assert_eq!(out, "><7>");
    }

    /// `renders_as` agrees with comparing `render`'s output, for matches,
    /// near misses (a byte changed, added or cut anywhere) and missing or
    /// extra params.
    #[test]
    fn renders_as_agrees_with_render() {
        let cases: [(&str, &[&str]); 7] = [
            ("user <*> took <NUM>", &["bob", "12ms"]),
            ("<*> a <NUM>:<IP>", &["x", "1", "2"]),
            ("<<NUM>>", &["7"]),
            ("<*> <*>", &["a"]),
            ("<*>", &["a", "b"]),
            ("no placeholders <nope> <", &[]),
            ("<TICKET>", &[""]),
        ];
        for (template, params) in cases {
            let good = render(template, params);
            assert!(
                renders_as(template, params.iter().copied(), &good),
                "{template}"
            );
            let mut variants = vec![format!("{good}x"), format!("x{good}")];
            for i in 0..good.len() {
                let mut cut = good.clone();
                cut.remove(i);
                variants.push(cut);
                let mut changed = good.clone().into_bytes();
                changed[i] = if changed[i] == b'z' { b'y' } else { b'z' };
                variants.push(String::from_utf8(changed).unwrap());
            }
            for v in variants {
                assert_eq!(
                    renders_as(template, params.iter().copied(), &v),
                    v == good,
                    "{template} {v:?}"
                );
            }
        }
    }

    #[test]
    fn counts() {
        assert_eq!(
            placeholder_count("a <*> <NUM>x<HEX> <MY_RULE2> <nope> <"),
            4
        );
        assert_eq!(placeholder_count(""), 0);
    }
}
