//! Reading the collector's answer: `ExportTraceServiceResponse.partial_success` (protobuf
//! and JSON) and the `google.rpc.Status` message of an error response.
//!
//! Both readers are small and defensive: bodies come from the network, so any byte
//! sequence yields a value or `None`, never a panic, and nesting is bounded.

/// What a 2xx response reported in `partial_success`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PartialSuccess {
    pub rejected_spans: u64,
    pub error_message: String,
}

/// Decodes an `ExportTraceServiceResponse` in protobuf:
/// `partial_success = 1 { int64 rejected_spans = 1; string error_message = 2; }`.
/// `None` when there is none, or it is malformed (see [`read_proto_response`]).
#[cfg(test)]
pub(crate) fn decode_proto_response(body: &[u8]) -> Option<PartialSuccess> {
    read_proto_response(body).flatten()
}

/// As [`decode_proto_response`], telling a malformed message (`None`) from one without
/// a partial success (`Some(None)`).
pub(crate) fn read_proto_response(body: &[u8]) -> Option<Option<PartialSuccess>> {
    let mut found: Option<PartialSuccess> = None;
    for_each_field(body, |field, value| {
        if let (1, Value::Bytes(inner)) = (field, value) {
            let mut ps = found.take().unwrap_or_default();
            // Fields of a repeated-and-merged message combine; last scalar wins.
            for_each_field(inner, |field, value| {
                match (field, value) {
                    (1, Value::Varint(v)) => {
                        // int64: negative counts are nonsense; read them as zero.
                        ps.rejected_spans = u64::try_from(v as i64).unwrap_or(0);
                    }
                    (2, Value::Bytes(s)) => {
                        ps.error_message = String::from_utf8_lossy(s).into();
                    }
                    _ => {}
                }
                Some(())
            })?;
            found = Some(ps);
        }
        Some(())
    })?;
    Some(found)
}

/// Returns `google.rpc.Status.message` (field 2) of a protobuf error body.
pub(crate) fn decode_proto_status_message(body: &[u8]) -> Option<String> {
    let mut message = None;
    for_each_field(body, |field, value| {
        if let (2, Value::Bytes(s)) = (field, value) {
            message = Some(std::str::from_utf8(s).ok()?.to_owned());
        }
        Some(())
    })?;
    message
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Walks the top-level fields of a protobuf message; `None` if it is malformed.
fn for_each_field<'a>(
    mut buf: &'a [u8],
    mut f: impl FnMut(u64, Value<'a>) -> Option<()>,
) -> Option<()> {
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let field = key >> 3;
        let value = match key & 7 {
            0 => Value::Varint(varint(&mut buf)?),
            1 => {
                buf = buf.get(8..)?;
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                let (bytes, rest) = (buf.get(..len)?, buf.get(len..)?);
                buf = rest;
                Value::Bytes(bytes)
            }
            5 => {
                buf = buf.get(4..)?;
                Value::Fixed
            }
            _ => return None,
        };
        if field == 0 {
            return None;
        }
        f(field, value)?;
    }
    Some(())
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The most bytes of a JSON `errorMessage` kept (the caller cuts it further): a
/// collector may explain every rejected span in it.
const MAX_JSON_MESSAGE: usize = 4096;

/// Decodes an `ExportTraceServiceResponse` in OTLP/JSON:
/// `{"partialSuccess":{"rejectedSpans":"3","errorMessage":"..."}}` (64-bit integers may be
/// strings or numbers; `null` or no `partialSuccess` means full success; of repeated
/// keys the last counts).
///
/// Read as it is checked, keeping only those two values (the message cut at
/// [`MAX_JSON_MESSAGE`] bytes): a body of any size is read in memory of its own size,
/// so a large answer (a collector explaining each rejected span) still gives its count.
/// `None` when there is none, or the body is malformed (see [`read_json_response`]).
#[cfg(test)]
pub(crate) fn decode_json_response(body: &[u8]) -> Option<PartialSuccess> {
    read_json_response(body).flatten()
}

/// As [`decode_json_response`], telling a malformed body (`None`: not an object, or a
/// `partialSuccess` that is not an object or `null`) from one without a partial
/// success (`Some(None)`).
pub(crate) fn read_json_response(body: &[u8]) -> Option<Option<PartialSuccess>> {
    let mut p = json::Parser::new(body);
    let mut found = None;
    p.members(0, |p, key| {
        if key != "partialSuccess" {
            return p.skip(1);
        }
        if p.null() {
            found = None;
            return Some(());
        }
        let mut ps = PartialSuccess::default();
        p.members(1, |p, key| match key.as_str() {
            // A count, as a number or a string; anything else counts as 0, skipped
            // without building it (found by review: `[0,0,...]` filling the body was
            // built as a tree, 16-40 times the body's size).
            "rejectedSpans" if p.at_container() => {
                ps.rejected_spans = 0;
                p.skip(2)
            }
            "rejectedSpans" if p.at_string() => {
                // No count has more than 20 digits: a longer string is no count.
                ps.rejected_spans = parse_count(&p.string_capped(64)?);
                Some(())
            }
            "rejectedSpans" => {
                ps.rejected_spans = match p.value(2)? {
                    json::Json::Num(n) => parse_count(&n),
                    _ => 0,
                };
                Some(())
            }
            // Read leniently: a message that echoes invalid UTF-8 or a lone surrogate
            // (a rejected span's own bytes, say) must not lose the rejected count.
            "errorMessage" if p.at_string() => {
                ps.error_message = p.string_lossy(MAX_JSON_MESSAGE)?;
                Some(())
            }
            "errorMessage" => {
                ps.error_message.clear();
                p.skip(2)
            }
            _ => p.skip(2),
        })?;
        found = Some(ps);
        Some(())
    })?;
    p.end()?;
    Some(found)
}

/// Returns the `message` of a JSON `google.rpc.Status` error body.
pub(crate) fn decode_json_status_message(body: &[u8]) -> Option<String> {
    let value = json::parse(std::str::from_utf8(body).ok()?)?;
    match value.get("message")? {
        json::Json::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// Reads an int64 count written as `"12"`, `12` or `12.0`; anything else is 0.
fn parse_count(s: &str) -> u64 {
    s.parse::<u64>()
        .ok()
        .or_else(|| {
            let f = s.parse::<f64>().ok()?;
            (f.is_finite() && f >= 0.0).then_some(f as u64)
        })
        .unwrap_or(0)
}

/// A minimal JSON reader, enough for collector responses.
mod json {
    const MAX_DEPTH: usize = 32;

    #[derive(Debug, PartialEq)]
    pub(crate) enum Json {
        Null,
        Bool(bool),
        /// The number's text.
        Num(String),
        Str(String),
        Arr(Vec<Json>),
        Obj(Vec<(String, Json)>),
    }

    impl Json {
        pub(crate) fn get(&self, key: &str) -> Option<&Json> {
            match self {
                Json::Obj(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Json> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value(0)?;
        p.ws();
        (p.i == p.s.len()).then_some(v)
    }

    pub(crate) struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl<'a> Parser<'a> {
        pub(crate) fn new(s: &'a [u8]) -> Self {
            Self { s, i: 0 }
        }

        /// Only whitespace is left.
        pub(crate) fn end(&mut self) -> Option<()> {
            self.ws();
            (self.i == self.s.len()).then_some(())
        }

        /// Reads a `null` if one is next.
        pub(crate) fn null(&mut self) -> bool {
            self.ws();
            self.eat(b"null").is_some()
        }

        /// Whether a string is next.
        pub(crate) fn at_string(&mut self) -> bool {
            self.ws();
            self.s.get(self.i) == Some(&b'"')
        }

        /// Whether an array or an object is next.
        pub(crate) fn at_container(&mut self) -> bool {
            self.ws();
            matches!(self.s.get(self.i), Some(b'[' | b'{'))
        }

        /// Reads an object at `depth`, handing each key to `member`, which must read
        /// the value.
        pub(crate) fn members(
            &mut self,
            depth: usize,
            mut member: impl FnMut(&mut Self, String) -> Option<()>,
        ) -> Option<()> {
            if depth > MAX_DEPTH {
                return None;
            }
            self.ws();
            self.eat(b"{")?;
            self.ws();
            if self.eat(b"}").is_some() {
                return Some(());
            }
            loop {
                self.ws();
                // Keys that matter are short: the rest of a long one is checked, not kept.
                let key = self.string_capped(64)?;
                self.ws();
                self.eat(b":")?;
                member(self, key)?;
                self.ws();
                if self.eat(b",").is_none() {
                    return self.eat(b"}");
                }
            }
        }

        /// Reads one value at `depth` as [`Parser::value`] checks it, keeping nothing.
        pub(crate) fn skip(&mut self, depth: usize) -> Option<()> {
            if depth > MAX_DEPTH {
                return None;
            }
            self.ws();
            match *self.s.get(self.i)? {
                b'"' => self.string_capped(0).map(drop),
                b'{' => self.members(depth, |p, _| p.skip(depth + 1)),
                b'[' => {
                    self.i += 1;
                    self.ws();
                    if self.eat(b"]").is_some() {
                        return Some(());
                    }
                    loop {
                        self.skip(depth + 1)?;
                        self.ws();
                        if self.eat(b",").is_none() {
                            return self.eat(b"]");
                        }
                    }
                }
                // A literal or a number: small.
                _ => self.value(depth).map(drop),
            }
        }
        fn ws(&mut self) {
            while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }

        fn eat(&mut self, lit: &[u8]) -> Option<()> {
            let end = self.i.checked_add(lit.len())?;
            (self.s.get(self.i..end)? == lit).then(|| self.i = end)
        }

        pub(crate) fn value(&mut self, depth: usize) -> Option<Json> {
            if depth > MAX_DEPTH {
                return None;
            }
            self.ws();
            match *self.s.get(self.i)? {
                b'n' => self.eat(b"null").map(|()| Json::Null),
                b't' => self.eat(b"true").map(|()| Json::Bool(true)),
                b'f' => self.eat(b"false").map(|()| Json::Bool(false)),
                b'"' => self.string().map(Json::Str),
                b'[' => {
                    self.i += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.eat(b"]").is_some() {
                        return Some(Json::Arr(items));
                    }
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        if self.eat(b",").is_none() {
                            self.eat(b"]")?;
                            return Some(Json::Arr(items));
                        }
                    }
                }
                b'{' => {
                    self.i += 1;
                    let mut members = Vec::new();
                    self.ws();
                    if self.eat(b"}").is_some() {
                        return Some(Json::Obj(members));
                    }
                    loop {
                        self.ws();
                        let key = self.string()?;
                        self.ws();
                        self.eat(b":")?;
                        members.push((key, self.value(depth + 1)?));
                        self.ws();
                        if self.eat(b",").is_none() {
                            self.eat(b"}")?;
                            return Some(Json::Obj(members));
                        }
                    }
                }
                b'-' | b'0'..=b'9' => {
                    let start = self.i;
                    while matches!(
                        self.s.get(self.i),
                        Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    ) {
                        self.i += 1;
                    }
                    let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                    text.parse::<f64>().ok()?;
                    Some(Json::Num(text.to_owned()))
                }
                _ => None,
            }
        }

        fn hex4(&mut self) -> Option<u32> {
            let end = self.i.checked_add(4)?;
            let digits = std::str::from_utf8(self.s.get(self.i..end)?).ok()?;
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            self.i = end;
            u32::from_str_radix(digits, 16).ok()
        }

        /// Reads `\uXXXX` with a low surrogate if one is next; else reads nothing.
        fn low_surrogate(&mut self) -> Option<u32> {
            let at = self.i;
            let lo = self.eat(b"\\u").and_then(|()| self.hex4());
            match lo {
                Some(lo) if (0xdc00..0xe000).contains(&lo) => Some(lo),
                _ => {
                    self.i = at;
                    None
                }
            }
        }

        fn string(&mut self) -> Option<String> {
            self.string_capped(usize::MAX)
        }

        /// Reads a string, checked whole, keeping its first `max` bytes (cut back to a
        /// character boundary).
        pub(crate) fn string_capped(&mut self, max: usize) -> Option<String> {
            self.read_string(max, false)
        }

        /// As [`Parser::string_capped`], but invalid UTF-8 and lone surrogate escapes
        /// read as U+FFFD instead of failing the string.
        pub(crate) fn string_lossy(&mut self, max: usize) -> Option<String> {
            self.read_string(max, true)
        }

        fn read_string(&mut self, max: usize, lossy: bool) -> Option<String> {
            self.eat(b"\"")?;
            let mut out = Vec::new();
            let mut cut = false;
            let mut keep = |out: &mut Vec<u8>, bytes: &[u8]| {
                if out.len() < max {
                    out.extend_from_slice(bytes);
                } else {
                    cut = true;
                }
            };
            loop {
                let b = *self.s.get(self.i)?;
                self.i += 1;
                match b {
                    b'"' => {
                        if lossy {
                            out = String::from_utf8_lossy(&out).into_owned().into_bytes();
                        }
                        if cut || out.len() > max {
                            out.truncate(max);
                            let valid = std::str::from_utf8(&out)
                                .map_or_else(|e| e.valid_up_to(), str::len);
                            out.truncate(valid);
                        }
                        return String::from_utf8(out).ok();
                    }
                    b'\\' => {
                        let e = *self.s.get(self.i)?;
                        self.i += 1;
                        let c = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hi = self.hex4()?;
                                let code = if (0xd800..0xdc00).contains(&hi) {
                                    let low = self.low_surrogate();
                                    match low {
                                        Some(lo) => 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00),
                                        None if lossy => 0xfffd,
                                        None => return None,
                                    }
                                } else {
                                    hi
                                };
                                match char::from_u32(code) {
                                    Some(c) => c,
                                    None if lossy => char::REPLACEMENT_CHARACTER,
                                    None => return None,
                                }
                            }
                            _ => return None,
                        };
                        let mut buf = [0u8; 4];
                        keep(&mut out, c.encode_utf8(&mut buf).as_bytes());
                    }
                    0x00..=0x1f => return None,
                    _ => keep(&mut out, &[b]),
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_nested_values_and_escapes() {
            let v =
                parse(r#" {"a":[1,-2.5e3,true,null],"b":{"c":"x\"\u00e9\ud83d\ude00"}} "#).unwrap();
            assert_eq!(
                v.get("a"),
                Some(&Json::Arr(vec![
                    Json::Num("1".into()),
                    Json::Num("-2.5e3".into()),
                    Json::Bool(true),
                    Json::Null
                ]))
            );
            assert_eq!(
                v.get("b").unwrap().get("c"),
                Some(&Json::Str("x\"é😀".into()))
            );
        }

        #[test]
        fn rejects_malformed_input_without_panicking() {
            let deep = "[".repeat(10_000);
            for bad in [
                "",
                "{",
                "{\"a\"}",
                "[1,]",
                "\"\\x\"",
                "\"\\ud800\"",
                "tru",
                "1 2",
                "{\"a\":1,}",
                "\"\u{1}\"",
                "-",
                &deep,
            ] {
                assert_eq!(parse(bad), None, "{bad:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_partial_success_is_read() {
        // partial_success { rejected_spans: 3, error_message: "bad span" }
        let mut inner = vec![0x08, 0x03, 0x12, 0x08];
        inner.extend_from_slice(b"bad span");
        let mut body = vec![0x0a, inner.len() as u8];
        body.extend_from_slice(&inner);
        assert_eq!(
            decode_proto_response(&body),
            Some(PartialSuccess {
                rejected_spans: 3,
                error_message: "bad span".into()
            })
        );
    }

    #[test]
    fn proto_empty_or_unknown_fields_mean_full_success() {
        assert_eq!(decode_proto_response(&[]), None);
        // An unknown varint field 7 and fixed32 field 3 are skipped.
        assert_eq!(decode_proto_response(&[0x38, 0x01, 0x1d, 1, 2, 3, 4]), None);
        // An empty partial_success message: zero rejected.
        assert_eq!(
            decode_proto_response(&[0x0a, 0x00]),
            Some(PartialSuccess::default())
        );
    }

    #[test]
    fn proto_garbage_is_rejected_not_panicked_on() {
        for bad in [
            &[0x0a][..],
            &[0x0a, 0x05, 0x08],
            &[0xff; 11],
            &[0x0b],
            &[0x00, 0x00],
            &[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            assert_eq!(decode_proto_response(bad), None, "{bad:?}");
        }
        // Negative int64 rejected_spans reads as zero.
        let mut body = vec![0x0a, 11, 0x08];
        body.extend_from_slice(&[0xff; 9]);
        body.push(0x01);
        assert_eq!(decode_proto_response(&body).unwrap().rejected_spans, 0);
    }

    #[test]
    fn proto_status_message_is_read() {
        // google.rpc.Status { code: 3, message: "oops" }
        let body = [0x08, 0x03, 0x12, 0x04, b'o', b'o', b'p', b's'];
        assert_eq!(decode_proto_status_message(&body).as_deref(), Some("oops"));
        assert_eq!(decode_proto_status_message(b"not proto at all"), None);
    }

    /// A collector that explains each rejected span can answer with a large body: its
    /// count was lost (a body over 64 KiB was not parsed, and its spans counted as
    /// exported). Read whole now, in memory of its own size, and the message cut.
    #[test]
    fn json_partial_success_of_a_large_body_keeps_its_count() {
        let reasons = "span 1234: attribute value too long; ".repeat(3000); // 111 KB
        let body =
            format!(r#"{{"partialSuccess":{{"rejectedSpans":"500","errorMessage":"{reasons}"}}}}"#);
        assert!(body.len() > 100_000);
        let ps = decode_json_response(body.as_bytes()).unwrap();
        assert_eq!(ps.rejected_spans, 500);
        assert_eq!(ps.error_message.len(), MAX_JSON_MESSAGE);
        assert!(reasons.starts_with(&ps.error_message));
        // Cut on a character boundary.
        let wide = "é".repeat(MAX_JSON_MESSAGE);
        let body =
            format!(r#"{{"partialSuccess":{{"rejectedSpans":1,"errorMessage":"x{wide}"}}}}"#);
        let ps = decode_json_response(body.as_bytes()).unwrap();
        assert_eq!(ps.error_message.len(), MAX_JSON_MESSAGE - 1);
        // The other way round too, and past other large fields.
        let body = format!(
            r#"{{"padding":["{reasons}",{{"a":"{reasons}"}}],"partialSuccess":{{"errorMessage":"{reasons}","rejectedSpans":7}}}}"#
        );
        assert_eq!(
            decode_json_response(body.as_bytes())
                .unwrap()
                .rejected_spans,
            7
        );
    }

    /// The streaming reader rejects what the tree reader rejects, without panicking:
    /// nesting past the bound (in a skipped field too), truncation anywhere, junk.
    #[test]
    fn json_partial_success_rejects_malformed_bodies() {
        let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
        let full =
            r#"{"a":[1,"b",{"c":null}],"partialSuccess":{"rejectedSpans":"3","errorMessage":"é"}}"#;
        assert_eq!(
            decode_json_response(full.as_bytes())
                .unwrap()
                .rejected_spans,
            3
        );
        for end in 0..full.len() {
            let cut = &full.as_bytes()[..end];
            assert_eq!(
                decode_json_response(cut),
                None,
                "{:?}",
                String::from_utf8_lossy(cut)
            );
        }
        for bad in [
            deep.as_str(),
            r#"{"partialSuccess":{"rejectedSpans":"3"},}"#,
            r#"{"partialSuccess":{"rejectedSpans":"3"}} x"#,
            r#"{"x":[1,],"partialSuccess":{}}"#,
            r#"{"x":"\q","partialSuccess":{}}"#,
            r#"["partialSuccess"]"#,
            "{\"x\":\"\u{1}\",\"partialSuccess\":{}}",
        ] {
            assert_eq!(decode_json_response(bad.as_bytes()), None, "{bad}");
        }
        // Every byte value in a skipped string, escaped or not: no panic.
        for b in 0..=255u8 {
            let mut body = br#"{"x":""#.to_vec();
            body.extend_from_slice(&[b, b'\\', b]);
            body.extend_from_slice(br#"","partialSuccess":{}}"#);
            let _ = decode_json_response(&body);
        }
    }

    /// Regression (review): an `errorMessage` holding invalid UTF-8 or a lone surrogate
    /// escape failed the whole `partialSuccess`, and its rejected spans were counted
    /// as exported. Read as U+FFFD now; the structure is still checked.
    #[test]
    fn json_partial_success_keeps_its_count_when_the_message_is_not_utf8() {
        let mut body = br#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad "#.to_vec();
        body.push(0xff);
        body.extend_from_slice(br#""}}"#);
        let ps = decode_json_response(&body).unwrap();
        assert_eq!(
            (ps.rejected_spans, ps.error_message.as_str()),
            (3, "bad \u{fffd}")
        );
        for (message, read) in [
            (r#"\ud800x"#, "\u{fffd}x"),
            (r#"\udc00"#, "\u{fffd}"),
            (r#"\ud800\u0041"#, "\u{fffd}A"),
            (r#"\ud83d\ude00"#, "\u{1f600}"),
        ] {
            let body =
                format!(r#"{{"partialSuccess":{{"errorMessage":"{message}","rejectedSpans":4}}}}"#);
            let ps = decode_json_response(body.as_bytes()).unwrap();
            assert_eq!(
                (ps.rejected_spans, ps.error_message.as_str()),
                (4, read),
                "{message}"
            );
        }
        // Elsewhere strings are still checked strictly: a lone surrogate in another
        // field is malformed, and so is the body.
        assert_eq!(
            decode_json_response(br#"{"x":"\ud800","partialSuccess":{"rejectedSpans":1}}"#),
            None
        );
    }

    #[test]
    fn json_partial_success_in_every_spelling() {
        #[rustfmt::skip]
        let table: &[(&str, Option<u64>, &str)] = &[
            (r#"{"partialSuccess":null}"#,                         None,    "rotel's full success"),
            (r#"{}"#,                                              None,    "no partialSuccess"),
            (r#"{"partialSuccess":{}}"#,                           Some(0), "empty partialSuccess"),
            (r#"{"partialSuccess":{"rejectedSpans":"5"}}"#,        Some(5), "int64 as string"),
            (r#"{"partialSuccess":{"rejectedSpans":7,"errorMessage":"x"}}"#, Some(7), "as number"),
            (r#"{"partialSuccess":{"rejectedSpans":"-2"}}"#,       Some(0), "negative reads as 0"),
            (r#"{"partialSuccess":{"rejectedSpans":[1,2]}}"#,      Some(0), "an array is no count"),
            (r#"{"partialSuccess":{"rejectedSpans":{"n":1}}}"#,    Some(0), "an object is no count"),
            (r#"{"partialSuccess":{"rejectedSpans":true}}"#,       Some(0), "a bool is no count"),
            (r#"{"partialSuccess":{"rejectedSpans":"1e3"}}"#,      Some(1000), "a float string"),
            (r#"{"partialSuccess":{"rejectedSpans":[1,}}"#,        None,    "a broken array"),
            (r#"{"partialSuccess":{"rejectedSpans":"#,             None,    "truncated body"),
            ("",                                                   None,    "empty body"),
        ];
        for (body, want, why) in table {
            let got = decode_json_response(body.as_bytes()).map(|p| p.rejected_spans);
            assert_eq!(got, *want, "{body}: {why}");
        }
        let ps = decode_json_response(br#"{"partialSuccess":{"errorMessage":"slow down"}}"#);
        assert_eq!(ps.unwrap().error_message, "slow down");
        // Repeated keys: the last counts, as in the tree reader.
        let ps = decode_json_response(
            br#"{"partialSuccess":{"rejectedSpans":1},"partialSuccess":{"rejectedSpans":"4","rejectedSpans":2}}"#,
        );
        assert_eq!(ps.map(|p| p.rejected_spans), Some(2));
        assert_eq!(
            decode_json_response(br#"{"partialSuccess":{},"partialSuccess":null}"#),
            None
        );
        // Other fields of any shape are checked and passed over.
        let ps = decode_json_response(
            br#"{"x":[1,{"y":["z",null,true]}],"partialSuccess":{"errorMessage":"slow down","z":{}}}"#,
        );
        assert_eq!(ps.unwrap().error_message, "slow down");
        assert_eq!(
            decode_json_status_message(br#"{"code":3,"message":"bad json"}"#).as_deref(),
            Some("bad json")
        );
    }

    /// Every reader of a collector's answer takes any bytes without panicking: random
    /// bytes, and valid answers cut, with bytes flipped, inserted and removed (no fuzz
    /// target reaches this crate; found by review).
    #[test]
    fn the_readers_take_any_bytes() {
        let valid: [&[u8]; 4] = [
            br#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad \ud83d\ude00 span"}}"#,
            br#"{"code":3,"message":"bad json","details":[{"a":[1,2,{"b":null}]}]}"#,
            // partial_success { rejected_spans: 3, error_message: "bad span" }
            b"\x0a\x0c\x08\x03\x12\x08bad span",
            // google.rpc.Status { code: 3, message: "bad" }
            b"\x08\x03\x12\x03bad",
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"{}[]\":,0123456789-+.eE \\u\x00\x08\x0a\x12\x7f\xff\xc3truefalsn";
        for round in 0..20_000 {
            let mut body: Vec<u8> = if round % 2 == 0 {
                let base = valid[(next() % 4) as usize];
                base[..(next() as usize % (base.len() + 1))].to_vec()
            } else {
                Vec::new()
            };
            for _ in 0..(next() % 24) {
                let byte = alphabet[(next() % alphabet.len() as u64) as usize];
                let at = next() as usize % (body.len() + 1);
                match next() % 3 {
                    0 if !body.is_empty() => {
                        let i = at.min(body.len() - 1);
                        body[i] = byte;
                    }
                    1 if !body.is_empty() => {
                        body.remove(at.min(body.len() - 1));
                    }
                    _ => body.insert(at, byte),
                }
            }
            let _ = read_json_response(&body);
            let _ = decode_json_status_message(&body);
            let _ = decode_proto_status_message(&body);
            if let Some(Some(p)) = read_proto_response(&body) {
                // Read from the body (each invalid byte at most a 3-byte U+FFFD).
                assert!(p.error_message.len() <= 3 * body.len(), "{body:?}");
            }
        }
    }
}
