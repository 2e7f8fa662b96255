//! [`ConsoleExporter`]: prints finished spans, one line each (or as a tree per trace),
//! to stdout or any [`io::Write`], using [`picotrace::wire::console`].
//!
//! ```
//! use picotrace::{SpanExporter, TracerConfig};
//! use picotrace_std::{ConsoleExporter, SharedExporter, TracerProvider};
//! let provider = TracerProvider::builder()
//!     .config(TracerConfig::new("demo"))
//!     .exporter(SharedExporter::new(ConsoleExporter::stdout()))
//!     .build();
//! provider.tracer().start_span("hello").end();
//! provider.flush()?;
//! # Ok::<(), picotrace_std::ExportError>(())
//! ```

use std::fmt;
use std::io::{self, Write};

use picotrace::wire::console::{write_span_line, write_trace_tree};
use picotrace::{SpanBatch, SpanExporter};

/// Writes spans as text; see the module docs.
pub struct ConsoleExporter<W = io::Stdout> {
    out: W,
    tree: bool,
    /// Reused text buffer: one write per batch.
    text: String,
}

impl<W> fmt::Debug for ConsoleExporter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("tree", &self.tree)
            .finish_non_exhaustive()
    }
}

impl ConsoleExporter<io::Stdout> {
    /// Prints one line per span to stdout.
    pub fn stdout() -> Self {
        Self::new(io::stdout())
    }

    /// Prints each batch as trees of spans with a duration waterfall to stdout.
    pub fn tree() -> Self {
        Self::stdout().with_tree(true)
    }
}

impl<W: Write> ConsoleExporter<W> {
    /// Prints one line per span to `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            tree: false,
            text: String::new(),
        }
    }

    /// Chooses the tree view (`true`) or one line per span (`false`).
    #[must_use]
    pub fn with_tree(mut self, tree: bool) -> Self {
        self.tree = tree;
        self
    }

    /// Returns the writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Returns the writer, consuming the exporter.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> SpanExporter for ConsoleExporter<W> {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
        self.text.clear();
        // Writing into a String cannot fail.
        if self.tree {
            let _ = write_trace_tree(batch.iter(), &mut self.text);
            if !self.text.is_empty() && !self.text.ends_with('\n') {
                self.text.push('\n');
            }
        } else {
            for span in batch.iter() {
                let _ = write_span_line(&span, &mut self.text);
                self.text.push('\n');
            }
        }
        self.out
            .write_all(self.text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|_| picotrace::ExportError::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracer::{SharedExporter, TracerProvider};
    use picotrace::TracerConfig;
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn run(tree: bool) -> String {
        let out = Shared::default();
        let provider = TracerProvider::builder()
            .config(TracerConfig::new("console-test"))
            .exporter(SharedExporter::new(
                ConsoleExporter::new(out.clone()).with_tree(tree),
            ))
            .build();
        let t = provider.tracer();
        let mut root = t.start_span("GET /users");
        root.set_attribute("http.request.method", "GET");
        root.child("query").end();
        root.end();
        provider.flush().unwrap();
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn prints_one_line_per_span() {
        let text = run(false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("\"query\""));
        assert!(lines[1].contains("\"GET /users\"") && lines[1].contains("(root)"));
        assert!(lines[1].contains("http.request.method=\"GET\""));
    }

    /// The tree view, not the line view (found by review: the test passed with the
    /// tree ignored): a trace header, the root at the left, its child indented under
    /// it, each with a waterfall bar.
    #[test]
    fn prints_a_tree() {
        let text = run(true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("trace ") && lines[0].contains("(2 spans,"),
            "{text}"
        );
        assert!(lines[1].starts_with("GET /users "), "{text}");
        assert!(lines[2].starts_with("  query "), "{text}");
        for row in &lines[1..3] {
            assert!(row.ends_with('|') && row.contains('█'), "{text}");
        }
        assert!(text.ends_with('\n'));
    }

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_broken_writer_fails_the_export_not_the_program() {
        let provider = TracerProvider::builder()
            .exporter(SharedExporter::new(ConsoleExporter::new(Broken)))
            .build();
        provider.tracer().start_span("x").end();
        // The span is lost, and flush says so.
        assert!(matches!(
            provider.flush(),
            Err(crate::ExportError::SpansLost {
                lost: 1,
                running: 0
            })
        ));
        assert_eq!(provider.stats().spans_export_failed, 1);
    }
}
