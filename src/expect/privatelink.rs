//! Azure private-link knowledge: which `privatelink.` DNS zone serves a public name.
//!
//! Data: `data/privatelink-zones.tsv`, from learn.microsoft.com/azure/private-link/private-endpoint-dns
//! (public suffix → private DNS zone → service). Placeholders such as `{regionName}` match one
//! DNS label; a placeholder of the zone that the public suffix does not bind matches any label.
//! The longest matching public suffix wins.

use std::sync::LazyLock;

use regex::Regex;

/// The shipped table, as text.
pub const TABLE_TSV: &str = include_str!("../../data/privatelink-zones.tsv");

struct Rule {
    public: Regex,
    public_len: usize,
    zone: String,
    service: String,
}

/// The private DNS zone expected for a name.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The zone, placeholders filled where known (`privatelink.vaultcore.azure.net`).
    pub name: String,
    /// Matches a DNS name inside the zone (case-insensitive).
    pub matcher: Regex,
    /// The service the table names.
    pub service: String,
}

/// A regex (without anchors) for a table entry whose `{placeholder}`s each match one DNS label,
/// as named groups; a placeholder that is not a valid group name matches a label unnamed.
pub fn pattern(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&regex::escape(&rest[..i]));
        let Some(j) = rest[i..].find('}') else { break };
        let var = &rest[i + 1..i + j];
        if !var.is_empty() && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push_str(&format!("(?P<{var}>[a-z0-9-]+)"));
        } else {
            out.push_str("[a-z0-9-]+");
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(&regex::escape(rest));
    out
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    TABLE_TSV
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (public, zone, service) = (f.next()?.trim(), f.next()?.trim(), f.next().unwrap_or("").trim());
            let re = Regex::new(&format!("(?i)(?:^|\\.){}$", pattern(public))).ok()?;
            Some(Rule { public: re, public_len: public.len(), zone: zone.to_owned(), service: service.to_owned() })
        })
        .collect()
});

/// The zone for `name` (a public name such as `contoso-kv.vault.azure.net`), if the table knows
/// its suffix.
pub fn zone_for(name: &str) -> Option<Zone> {
    let name = name.trim_end_matches('.');
    let (rule, caps) = RULES.iter().filter_map(|r| r.public.captures(name).map(|c| (r, c))).max_by_key(|(r, _)| r.public_len)?;
    // Fill the zone's placeholders from the public name where it binds them.
    let mut display = rule.zone.clone();
    let mut re = String::new();
    let mut rest = rule.zone.as_str();
    while let Some(i) = rest.find('{') {
        re.push_str(&regex::escape(&rest[..i]));
        let Some(j) = rest[i..].find('}') else { break };
        let var = &rest[i + 1..i + j];
        match caps.name(var) {
            Some(v) => {
                re.push_str(&regex::escape(v.as_str()));
                display = display.replace(&format!("{{{var}}}"), v.as_str());
            }
            None => re.push_str("[a-z0-9-]+"),
        }
        rest = &rest[i + j + 1..];
    }
    re.push_str(&regex::escape(rest));
    let matcher = Regex::new(&format!("(?i)(?:^|\\.){re}$")).ok()?;
    Some(Zone { name: display, matcher, service: rule.service.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_vault_blob_and_migrate_map_to_their_zones() {
        let kv = zone_for("contoso-kv.vault.azure.net").unwrap();
        assert_eq!(kv.name, "privatelink.vaultcore.azure.net");
        assert!(kv.matcher.is_match("contoso-kv.privatelink.vaultcore.azure.net"));
        assert!(!kv.matcher.is_match("contoso-kv.vaultcore.azure.net"));
        assert_eq!(zone_for("sa.blob.core.windows.net").unwrap().name, "privatelink.blob.core.windows.net");
        let m = zone_for("x-agent.cus.disc.prod.migration.windowsazure.com").unwrap();
        assert!(m.matcher.is_match("x-agent.cus.disc.privatelink.prod.migration.windowsazure.com"));
        assert!(zone_for("example.com").is_none());
    }

    #[test]
    fn placeholders_bind_from_the_public_name() {
        let k = zone_for("mycluster.westeurope.kusto.windows.net").unwrap();
        assert_eq!(k.name, "privatelink.westeurope.kusto.windows.net");
        assert!(k.matcher.is_match("mycluster.privatelink.westeurope.kusto.windows.net"));
        assert!(!k.matcher.is_match("mycluster.privatelink.eastus.kusto.windows.net"));
    }

    #[test]
    fn the_whole_table_compiles() {
        assert!(RULES.len() >= 100, "{} rules", RULES.len());
    }
}
