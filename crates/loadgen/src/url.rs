//! URLs of targets, read in one place: [`redact_url`], the one way a URL is written into results
//! and messages, and the one parser every protocol's target goes through (it refuses a port out
//! of range, a missing host, an unknown scheme, and user info, which loadgen would never send).

use crate::{Error, Result};

/// What [`redact_url`] gives for text it cannot read as a URL.
pub const UNREADABLE_URL: &str = "<unreadable URL>";

/// A URL as results may show it: `scheme://host:port/path`, without user info, query string or
/// fragment (any of which may hold a secret). Never fails: text that cannot be read as a URL
/// becomes [`UNREADABLE_URL`], which holds nothing of it.
///
/// ```
/// use loadgen::redact_url;
/// assert_eq!(redact_url("https://user:pw@example.com:8443/v1/x?token=abc#f"), "https://example.com:8443/v1/x");
/// assert_eq!(redact_url("http://[::1]:8000"), "http://[::1]:8000");
/// assert_eq!(redact_url("not a url"), loadgen::UNREADABLE_URL);
/// ```
pub fn redact_url(url: &str) -> String {
    match Parts::split(url) {
        Some(p) if p.host_ok() && p.port_text_ok() => {
            let port = p.port.map(|port| format!(":{port}")).unwrap_or_default();
            format!("{}://{}{port}{}", p.scheme.to_ascii_lowercase(), p.host, p.path)
        }
        _ => UNREADABLE_URL.to_owned(),
    }
}

/// The pieces of `scheme://[userinfo@]host[:port][/path][?query][#fragment]`, as written.
#[derive(Debug, Clone, Copy)]
struct Parts<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    /// The host as written (IPv6 literals keep their brackets).
    host: &'a str,
    port: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

impl<'a> Parts<'a> {
    fn split(url: &'a str) -> Option<Self> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://")?;
        let mut chars = scheme.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return None;
        }
        let (rest, fragment) = match rest.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (rest, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = if hostport.starts_with('[') {
            let end = hostport.find(']')?;
            let (host, after) = hostport.split_at(end + 1);
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':')?)),
            }
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        Some(Parts { scheme, userinfo, host, port, path, query, fragment })
    }

    /// A registered name or IPv4 address, or a bracketed IPv6 address.
    fn host_ok(&self) -> bool {
        let h = self.host;
        if let Some(inner) = h.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return !inner.is_empty()
                && inner.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '%'));
        }
        !h.is_empty()
            && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~' | '%'))
    }

    /// Whether the port is absent or all digits (not necessarily in range).
    fn port_text_ok(&self) -> bool {
        self.port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// A target URL that passed every check: `http` or `https`, a host, a port in range, no user info
/// and no fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetUrl {
    pub(crate) https: bool,
    /// The host without IPv6 brackets, to connect to.
    pub(crate) host: String,
    /// The port, explicit or the scheme's default.
    pub(crate) port: u16,
    /// `host[:port]` as written (the Host header).
    pub(crate) authority: String,
    /// The path as written (may be empty).
    pub(crate) path: String,
    /// The query string without its `?`.
    pub(crate) query: Option<String>,
    /// The URL as results show it ([`redact_url`]).
    pub(crate) redacted: String,
}

impl TargetUrl {
    /// Parses and checks a target URL.
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let redacted = redact_url(url);
        let err = |reason: &str| Error::Target { target: redacted.clone(), reason: reason.to_owned() };
        let Some(p) = Parts::split(url) else {
            return Err(err(if url.contains("://") {
                "not a URL"
            } else {
                "no scheme: write http://HOST:PORT/PATH (or https://)"
            }));
        };
        let https = match p.scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(err("the scheme must be http or https")),
        };
        if p.userinfo.is_some() {
            return Err(err(
                "user info (user:password@) in a URL is never sent: give credentials as a header, \
                 e.g. -H 'Authorization: Basic ...'",
            ));
        }
        if p.host.is_empty() {
            return Err(err("no host"));
        }
        if !p.host_ok() {
            return Err(err("the host is not a host name or an IP address"));
        }
        let port = match p.port {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(text) => match text.parse::<u16>() {
                Ok(port) if port > 0 && p.port_text_ok() => port,
                _ => return Err(err("the port must be a number from 1 to 65535")),
            },
        };
        if p.fragment.is_some() {
            return Err(err("a fragment (#...) is never sent to a server: remove it"));
        }
        for (part, what) in [(p.path, "path"), (p.query.unwrap_or_default(), "query string")] {
            if part.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(err(&format!(
                    "the {what} holds spaces or control characters: percent-encode them"
                )));
            }
        }
        let host = p.host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let authority = match p.port {
            Some(text) => format!("{}:{text}", p.host),
            None => p.host.to_owned(),
        };
        Ok(TargetUrl {
            https,
            host,
            port,
            authority,
            path: p.path.to_owned(),
            query: p.query.map(str::to_owned),
            redacted,
        })
    }

    /// The request target: the path (`/` when empty) and the query string.
    pub(crate) fn path_and_query(&self) -> String {
        let path = if self.path.is_empty() { "/" } else { &self.path };
        match &self.query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        }
    }

    /// `scheme://authority`.
    pub(crate) fn origin(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.authority)
    }
}

/// `base` (a URL that may end in a path, with or without a trailing slash, but has no query
/// string) joined with `path` (which may carry a query string): exactly one `/` between them.
pub(crate) fn join(base: &str, path: &str) -> Result<String> {
    let b = TargetUrl::parse(base)?;
    if b.query.is_some() {
        return Err(Error::Target {
            target: b.redacted,
            reason: "a base URL has no query string: put it in the workload's path".to_owned(),
        });
    }
    let base_path = b.path.trim_end_matches('/');
    let path = path.trim();
    let sep = if path.starts_with('/') { "" } else { "/" };
    Ok(format!("{}{base_path}{sep}{path}", b.origin()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_scheme_host_port_path_only() {
        for (url, shown) in [
            ("http://127.0.0.1:8000/echo", "http://127.0.0.1:8000/echo"),
            ("HTTPS://h.example/a/b?x=1&token=SECRET", "https://h.example/a/b"),
            ("http://user:SECRET@h:9000", "http://h:9000"),
            ("http://user:p@ss:SECRET@h:9000/x", "http://h:9000/x"),
            ("grpc://h:9000", "grpc://h:9000"),
            ("http://[::1]:8000/x#frag", "http://[::1]:8000/x"),
            ("http://h?SECRET", "http://h"),
            ("http://h:99999/", "http://h:99999/"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        // Whatever cannot be read holds nothing of the input.
        for url in [
            "no scheme here SECRET",
            "http://user:pa/SECRET@h/",
            "http://h:SECRET/",
            "://SECRET",
            "1http://h/",
            "http://[::1/SECRET",
            "http://h h/",
            "",
        ] {
            assert_eq!(redact_url(url), UNREADABLE_URL, "{url}");
        }
    }

    #[test]
    fn parses_targets() {
        let t = TargetUrl::parse("http://127.0.0.1:8000/echo?x=1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.host.as_str(), t.port, t.https), ("127.0.0.1", 8000, false));
        assert_eq!(t.path_and_query(), "/echo?x=1");
        assert_eq!(t.redacted, "http://127.0.0.1:8000/echo");
        let t = TargetUrl::parse("https://[::1]/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.host.as_str(), t.port, t.authority.as_str()), ("::1", 443, "[::1]"));
        let t = TargetUrl::parse("http://h").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.port, t.path_and_query()), (80, "/".to_owned()));
    }

    #[test]
    fn refuses_bad_targets_without_echoing_secrets() {
        for (url, why) in [
            ("http://127.0.0.1:99999/", "port"),
            ("http://127.0.0.1:0/", "port"),
            ("http://127.0.0.1:/", "port"),
            ("http://127.0.0.1:80a/", "port"),
            ("http:///path", "no host"),
            ("http://", "no host"),
            ("ftp://h/", "scheme"),
            ("grpc://h:9000", "scheme"),
            ("127.0.0.1:8000", "no scheme"),
            ("http://user:SECRET@h/", "user info"),
            ("http://h/#x", "fragment"),
            ("http://h/a b", "spaces"),
            ("http://h!/", "host"),
        ] {
            let e = TargetUrl::parse(url).map(|_| ()).expect_err(url).to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("SECRET"), "{url}: {e}");
        }
    }

    #[test]
    fn joins_bases_and_paths() {
        for (base, path, url) in [
            ("http://h:8000", "/echo", "http://h:8000/echo"),
            ("http://h:8000/", "/echo", "http://h:8000/echo"),
            ("http://h:8000/", "echo", "http://h:8000/echo"),
            ("http://h/prefix", "/echo?x=1", "http://h/prefix/echo?x=1"),
            ("http://h/prefix/", "", "http://h/prefix/"),
            ("https://h", "/", "https://h/"),
        ] {
            assert_eq!(join(base, path).unwrap_or_else(|e| panic!("{e}")), url);
        }
        assert!(join("http://h/?token=x", "/echo").is_err());
        assert!(join("http://u:p@h/", "/echo").is_err());
    }
}
