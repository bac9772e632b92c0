//! Hosts-format files (`/etc/hosts`, Azure Migrate's "DNS settings" download): lines of
//! `IP name [alias...]`, `#` comments (hosts(5)). Used by the `system` resolver and by the
//! `from_hosts_file` address expectation.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

/// Name (lower case, no trailing dot) → addresses, in file order.
#[derive(Debug, Clone, Default)]
pub struct HostsFile {
    map: HashMap<String, Vec<IpAddr>>,
}

impl HostsFile {
    /// Parses hosts-format text. Lines whose first field is not an IP are skipped (Azure's
    /// download sometimes carries a header line).
    pub fn parse(text: &str) -> Self {
        let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_whitespace();
            let Some(Ok(ip)) = fields.next().map(|f| f.parse::<IpAddr>()) else {
                continue;
            };
            for name in fields {
                let e = map.entry(normalize(name)).or_default();
                if !e.contains(&ip) {
                    e.push(ip);
                }
            }
        }
        HostsFile { map }
    }

    /// Reads and parses a file; a missing or unreadable file gives an empty table.
    pub fn load(path: &Path) -> Self {
        std::fs::read_to_string(path).map(|t| Self::parse(&t)).unwrap_or_default()
    }

    /// Addresses for `name` (case-insensitive, trailing dot ignored).
    pub fn lookup(&self, name: &str) -> &[IpAddr] {
        self.map.get(&normalize(name)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no name is listed.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_aliases_and_comments() {
        let h = HostsFile::parse(
            "# DNS settings\n10.12.4.23 a.disc.privatelink.example.com alias.Example.com # c\n\nnot-an-ip x\n::1 localhost\n",
        );
        assert_eq!(h.lookup("A.disc.privatelink.example.com."), &["10.12.4.23".parse::<IpAddr>().unwrap()]);
        assert_eq!(h.lookup("alias.example.com"), &["10.12.4.23".parse::<IpAddr>().unwrap()]);
        assert_eq!(h.lookup("localhost"), &["::1".parse::<IpAddr>().unwrap()]);
        assert!(h.lookup("x").is_empty());
        assert_eq!(h.len(), 3);
    }
}
