//! Error text for people: an error and its causes on one line, each cause said once.
//!
//! Many of binwatch's errors name their cause in their own message (`cannot read model {path}: {source}`,
//! thiserror's style, so that a bare `{e}` says everything), while a caller that prints the whole chain
//! (anyhow's `{:#}`, or a walk of `source()`) would then say the cause twice. [`chain`] walks the chain
//! and leaves out a cause whose text already ends the message so far. [`one_line`] folds the multi-line
//! messages some libraries write (ONNX Runtime's run errors) into one log line. [`http`] is the text of a
//! reqwest error, whose cause (connection refused, timed out, DNS) sits in its source chain.

use std::error::Error;

/// `err` and its causes, `: `-separated, skipping a cause whose text the message so far already ends
/// with.
pub fn chain(err: &(dyn Error + 'static)) -> String {
    join(std::iter::successors(Some(err), |&e| e.source()).map(|e| e.to_string()))
}

/// [`chain`] for an `anyhow::Error` (its context layers, then the error's own causes).
pub fn chain_anyhow(err: &anyhow::Error) -> String {
    join(err.chain().map(|e| e.to_string()))
}

/// The first text, then each later one that the text so far does not already end with.
fn join(mut texts: impl Iterator<Item = String>) -> String {
    let mut out = texts.next().unwrap_or_default();
    for t in texts {
        append(&mut out, &t);
    }
    out
}

/// A reqwest error with the cause it keeps in its source chain (reqwest's own text is only "error
/// sending request for url (...)"), deduplicated as in [`chain`], and "timed out" when it is a timeout.
pub fn http(err: &reqwest::Error) -> String {
    let mut out = chain(err);
    if err.is_timeout() && !out.contains("timed out") {
        out.push_str(": timed out");
    }
    out
}

fn append(out: &mut String, text: &str) {
    let text = text.trim();
    if text.is_empty() || out.ends_with(text) {
        return;
    }
    out.push_str(": ");
    out.push_str(text);
}

/// `text` on one line: line breaks (and the indentation after them) become ` | `, blank lines dropped.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read model {path}: {source}")]
    struct Read {
        path: String,
        #[source]
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request for url (http://127.0.0.1:9/x)")]
    struct Hidden {
        #[source]
        source: std::io::Error,
    }

    fn not_found() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory (os error 2)",
        )
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let e = Read {
            path: "/nope.onnx".into(),
            source: not_found(),
        };
        assert_eq!(
            chain(&e),
            "cannot read model /nope.onnx: No such file or directory (os error 2)"
        );
        // through anyhow, with a context layer on top
        let a = anyhow::Error::new(e).context("loading the model");
        assert_eq!(
            chain_anyhow(&a),
            "loading the model: cannot read model /nope.onnx: No such file or directory (os error 2)"
        );
        // what main printed before: the cause twice
        assert!(format!("{a:#}").ends_with("(os error 2): No such file or directory (os error 2)"));
    }

    #[test]
    fn a_cause_the_message_hides_is_added() {
        let e = Hidden {
            source: std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "Connection refused (os error 111)",
            ),
        };
        assert_eq!(
            chain(&e),
            "error sending request for url (http://127.0.0.1:9/x): Connection refused (os error 111)"
        );
        assert_eq!(
            chain(&not_found()),
            "No such file or directory (os error 2)"
        );
    }

    #[test]
    fn multi_line_text_becomes_one_line() {
        assert_eq!(
            one_line(
                "Non-zero status code returned while running Conv node.\n  Name:'c1'\n\nStatus: bad shape\n"
            ),
            "Non-zero status code returned while running Conv node. | Name:'c1' | Status: bad shape"
        );
        assert_eq!(one_line("already one line"), "already one line");
    }
}
