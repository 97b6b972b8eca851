//! Reads the raw messages the SMTP catcher stored: just enough MIME
//! (RFC 2047 subjects, quoted-printable and base64 parts) to assert on what
//! a reader would see.

/// A received message, decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    pub fn parse(raw: &str) -> Self {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let headers = unfold(head);
        let subject = decode_words(header(&headers, "subject").unwrap_or_default());
        let content_type = header(&headers, "content-type").unwrap_or_default();
        let boundary = content_type
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("a multipart message: {raw}"));
        let (mut text, mut html) = (String::new(), String::new());
        for part in body.split(&format!("--{boundary}")).skip(1) {
            let Some((head, content)) = part.trim_start_matches('\n').split_once("\n\n") else { continue };
            let headers = unfold(head);
            let decoded = match header(&headers, "content-transfer-encoding").map(str::to_lowercase).as_deref() {
                Some("quoted-printable") => quoted_printable(content),
                Some("base64") => String::from_utf8(base64(content)).expect("UTF-8 part"),
                _ => content.to_owned(),
            };
            let kind = header(&headers, "content-type").unwrap_or_default().to_lowercase();
            if kind.starts_with("text/plain") {
                text = decoded;
            } else if kind.starts_with("text/html") {
                html = decoded;
            }
        }
        Self { subject, text: text.replace("\r\n", "\n"), html: html.replace("\r\n", "\n") }
    }
}

fn unfold(head: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_lowercase(), value.trim().to_owned()));
        }
    }
    headers
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`);
/// whitespace between two encoded words is dropped, as the RFC says.
fn decode_words(value: &str) -> String {
    let mut out = Vec::new();
    let mut rest = value;
    let mut after_word = false;
    while !rest.is_empty() {
        let start = rest.find("=?");
        let word = start.and_then(|s| {
            let inner = &rest[s + 2..];
            let mut fields = inner.splitn(3, '?');
            let (_charset, encoding, tail) = (fields.next()?, fields.next()?, fields.next()?);
            let end = tail.find("?=")?;
            let decoded = match encoding.to_ascii_lowercase().as_str() {
                "b" => base64(&tail[..end]),
                "q" => quoted_printable(&tail[..end].replace('_', " ")).into_bytes(),
                _ => return None,
            };
            let consumed = s + 2 + (inner.len() - tail.len()) + end + 2;
            Some((s, decoded, consumed))
        });
        match word {
            Some((s, decoded, consumed)) => {
                let between = &rest[..s];
                if !(after_word && between.trim().is_empty()) {
                    out.extend_from_slice(between.as_bytes());
                }
                out.extend(decoded);
                rest = &rest[consumed..];
                after_word = true;
            }
            None => {
                out.extend_from_slice(rest.as_bytes());
                break;
            }
        }
    }
    String::from_utf8(out).expect("a UTF-8 header")
}

fn quoted_printable(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ASCII");
                out.push(u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad escape ={hex}")));
                i += 3;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 text")
}

fn base64(encoded: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = encoded.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
