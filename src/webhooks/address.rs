//! Which addresses a webhook may reach. A callback URL is the uploader's
//! choice, so without these checks any uploader could make the server call
//! inside its own network (an admin port on loopback, a database on a private
//! address, a cloud metadata endpoint that hands out credentials). Checked
//! when the upload names the URL (after DNS resolution) and again when a
//! delivery connects (a name may resolve elsewhere by then: DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Longest accepted callback URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// The resolver's refusal, recognised in a failed request's error chain.
pub const REFUSED_BY_RESOLVER: &str = "resolves to no address webhooks may call";
/// How long resolving an upload's callback host may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an IPv4 address may not be called, `None` when it may.
fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        _ if ip.is_unspecified() || a == 0 => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private address",
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "a cloud metadata address",
        _ if ip.is_link_local() => "a link-local address",
        // Carrier-grade NAT (RFC 6598): inside a provider's network.
        _ if a == 100 && (64..128).contains(&b) => "a shared (carrier-grade NAT) address",
        // IETF protocol assignments, benchmarking, documentation.
        _ if a == 192 && b == 0 && c == 0 => "a reserved address",
        _ if a == 198 && (b == 18 || b == 19) => "a reserved address",
        _ if ip.is_documentation() => "a documentation address",
        _ if ip.is_multicast() || ip.is_broadcast() || a >= 240 => "a reserved address",
        _ => return None,
    })
}

/// Why an IPv6 address may not be called, `None` when it may. Addresses
/// that embed an IPv4 one are judged by it.
fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach an IPv4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return refused_v4(Ipv4Addr::new(a, b, c, d));
    }
    if segments[0] == 0x2002 {
        let [a, b] = segments[1].to_be_bytes();
        let [c, d] = segments[2].to_be_bytes();
        return refused_v4(Ipv4Addr::new(a, b, c, d));
    }
    Some(match () {
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        // fd00:ec2::254 (AWS metadata over IPv6) is in fc00::/7 too.
        _ if segments[0] & 0xfe00 == 0xfc00 => "a private (unique local) address",
        _ if segments[0] & 0xffc0 == 0xfe80 => "a link-local address",
        _ if segments[0] & 0xffc0 == 0xfec0 => "a site-local address",
        _ if ip.is_multicast() => "a multicast address",
        // IPv4-compatible (deprecated) ::a.b.c.d.
        _ if segments[..6] == [0; 6] => "a reserved address",
        _ if segments[0] == 0x2001 && segments[1] == 0x0db8 => "a documentation address",
        _ => return None,
    })
}

/// Why `ip` may not be called, `None` when it may.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

/// Parses and checks an upload's callback URL: http(s), a host, and every
/// address it resolves to one webhooks may call (unless `allow_private`).
/// The error says what is wrong, in the uploader's terms.
pub async fn check_callback_url(text: &str, allow_private: bool) -> Result<Url, String> {
    let url = parse(text)?;
    let host = url
        .host_str()
        .ok_or("the callback_url has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            let lookup = tokio::net::lookup_host((host.as_str(), port));
            match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(_)) => {
                    return Err(format!("the callback_url's host {host} does not resolve"))
                }
                Err(_) => {
                    return Err(format!(
                        "the callback_url's host {host} did not resolve within {} s",
                        RESOLVE_TIMEOUT.as_secs()
                    ))
                }
            }
        }
    };
    if addresses.is_empty() {
        return Err(format!("the callback_url's host {host} has no address"));
    }
    if !allow_private {
        for address in &addresses {
            if let Some(reason) = refused(address.ip()) {
                return Err(format!(
                    "the callback_url's host {host} is {reason} ({}); webhooks go to public \
                     addresses only",
                    address.ip()
                ));
            }
        }
    }
    Ok(url)
}

/// The URL's syntax and scheme.
pub fn parse(text: &str) -> Result<Url, String> {
    if text.len() > MAX_URL_BYTES {
        return Err(format!(
            "the callback_url is longer than {MAX_URL_BYTES} bytes"
        ));
    }
    let url = Url::parse(text.trim())
        .map_err(|error| format!("the callback_url is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the callback_url must be an http:// or https:// URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the callback_url has no host".into());
    }
    Ok(url)
}

/// The URL as spans and the job show it: no user name or password, no query
/// and no fragment, any of which may hold a token.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// The delivery client's resolver: the system's, with the addresses
/// webhooks may not call filtered out at connect time. IP-literal URLs never
/// reach a resolver; the dispatcher checks those itself.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly {
    pub allow_private: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found
                .filter(|address| allow_private || refused(address.ip()).is_none())
                .collect();
            if allowed.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> =
                    format!("{host} {REFUSED_BY_RESOLVER}").into();
                return Err(error);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert!(refused(ip).is_some(), "{text} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for text in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:2800:220:1:248:1893:25c8:1946",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(refused(ip), None, "{text}");
        }
    }

    #[tokio::test]
    async fn urls_to_internal_addresses_or_other_schemes_are_refused() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://localhost/hook",
            "ftp://93.184.216.34/hook",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(check_callback_url(url, false).await.is_err(), "{url}");
        }
        assert!(check_callback_url("http://127.0.0.1:9/hook", true)
            .await
            .is_ok());
    }

    #[test]
    fn shown_urls_lose_their_credentials_and_query() {
        let url = Url::parse("https://user:pw@example.com/hook?token=s3cret#x").unwrap();
        assert_eq!(redacted(&url), "https://example.com/hook");
    }
}
