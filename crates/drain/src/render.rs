//! Rebuilding a message from a template and its parameters.

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
    let b = template.as_bytes();
    let mut last = 0;
    let mut from = 0;
    while let Some(off) = memchr::memchr(b'<', &b[from..]) {
        let i = from + off;
        match literal_placeholder(&b[i..]) {
            Some(len) => {
                if let Some(p) = params.next() {
                    out.push_str(&template[last..i]);
                    out.push_str(p);
                    last = i + len;
                }
                from = i + len;
            }
            None => from = i + 1,
        }
    }
    out.push_str(&template[last..]);
}

/// Number of placeholders in `template`, i.e. how many parameters
/// [`render`] consumes.
pub fn placeholder_count(template: &str) -> usize {
    let b = template.as_bytes();
    let mut count = 0;
    let mut from = 0;
    while let Some(off) = memchr::memchr(b'<', &b[from..]) {
        let i = from + off;
        match literal_placeholder(&b[i..]) {
            Some(len) => {
                count += 1;
                from = i + len;
            }
            None => from = i + 1,
        }
    }
    count
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

    #[test]
    fn counts() {
        assert_eq!(
            placeholder_count("a <*> <NUM>x<HEX> <MY_RULE2> <nope> <"),
            4
        );
        assert_eq!(placeholder_count(""), 0);
    }
}
