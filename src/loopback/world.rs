//! The demo world: every endpoint the three shipped suites (`suites/*.yaml`) check, played on
//! loopback with planted faults, for `netspec demo`.
//!
//! DNS publishes public-looking addresses (20.50.x.y for Azure public endpoints, 10.12.4.x for
//! private endpoints, 10.2.4.x for the SHIR nodes); [`DemoWorld::address_map`] says which
//! loopback listener plays each `(address, port)`. The core's sandbox connector must dial only
//! through that map. The healthy endpoints and the planted faults are listed in
//! [`DemoWorld::scenarios`].

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use serde_json::{Value, json};

use super::{
    Ca, DnsServer, DnsZone, FilteredPort, HttpServer, LabError, OpenPort, Proxy, ProxyConfig, Reply, Route, Validity, closed_port,
};

/// Arc SQL regions the demo runs, healthy first; see [`DemoWorld::scenarios`] for the rest.
const REGIONS: [&str; 8] = ["eastus", "eastus2", "westeurope", "southeastasia", "uksouth", "japaneast", "australiaeast", "centralus"];
const KEY_VAULT: &str = "contoso-migrate-kv";
const STORAGE_ACCOUNT: &str = "contosomigratesa";
const DISCOVERY: &str = "04b8c9c73f3d477e966c8d00f352889c-agent.cus.disc.prod.migration.windowsazure.com";
const SERVICE_HOST: &str = "wu2.frontend.clouddatahub.net";
const NODES: [&str; 4] = ["shir-node1.corp.example", "shir-node2.corp.example", "shir-node3.corp.example", "shir-node4.corp.example"];
const PROXY_USER: &str = "shir";
/// Never handed to the suites: the demo shows the 407 a missing password earns.
const PROXY_PASSWORD: &str = "lab-only-password";

#[rustfmt::skip]
const SCENARIOS: [(&str, &str, &str); 12] = [
    ("azure-arc-sql", "arc-sql westeurope", "telemetry answers 200: it is not the telemetry service"),
    ("azure-arc-sql", "arc-sql southeastasia", "a firewall drops TCP 443 to the DPS (filtered)"),
    ("azure-arc-sql", "arc-sql uksouth", "something resets TCP 443 to the DPS (closed)"),
    ("azure-arc-sql", "arc-sql japaneast", "the DPS and telemetry names do not exist (NXDOMAIN)"),
    ("azure-arc-sql", "arc-sql australiaeast", "the DPS certificate comes from an untrusted TLS-inspection CA"),
    ("azure-arc-sql", "arc-sql centralus", "the DPS certificate expired a year ago"),
    ("azure-migrate-private-endpoints", "storage blob resolves privately via privatelink",
     "the corporate DNS leaks the public blob address 20.60.1.10"),
    ("azure-migrate-private-endpoints", "discovery service resolves privately via privatelink",
     "DNS answers 10.12.4.23, the DNS settings file says 10.12.4.22"),
    ("adf-shir", "service via proxy", "the proxy demands a password and NETSPEC_PROXY_PASSWORD is unset (407)"),
    ("adf-shir", "node shir-node2.corp.example", "TCP 8060 is closed (reset)"),
    ("adf-shir", "node shir-node3.corp.example", "TCP 8060 is filtered (dropped)"),
    ("adf-shir", "node shir-node4.corp.example", "the node name does not resolve (NXDOMAIN)"),
];

/// Who signs an endpoint's certificate.
#[derive(Clone, Copy)]
enum Cert {
    Lab,
    Expired,
    Untrusted,
}

/// Everything the world starts, collected while it is built.
struct Builder {
    ca: Ca,
    rogue: Ca,
    zone: DnsZone,
    map: HashMap<SocketAddr, SocketAddr>,
    /// Server handles: kept only so their listeners live as long as the world.
    keep: Vec<Box<dyn Any + Send + Sync>>,
}

impl Builder {
    /// Plays `ip:443` with an HTTPS server whose certificate names `names`.
    async fn https(&mut self, ip: [u8; 4], names: &[&str], cert: Cert, reply: Reply) -> Result<(), LabError> {
        let identity = match cert {
            Cert::Lab => self.ca.issue(names, Validity::Current)?,
            Cert::Expired => self.ca.issue(names, Validity::Expired)?,
            Cert::Untrusted => self.rogue.issue(names, Validity::Current)?,
        };
        let server = HttpServer::start(Some(identity), reply).await?;
        self.map.insert(sock(ip, 443), server.addr());
        self.keep.push(Box::new(server));
        Ok(())
    }

    async fn filtered(&mut self, ip: [u8; 4], port: u16) -> Result<(), LabError> {
        let p = FilteredPort::start().await?;
        self.map.insert(sock(ip, port), p.addr());
        self.keep.push(Box::new(p));
        Ok(())
    }

    async fn open(&mut self, ip: [u8; 4], port: u16) -> Result<(), LabError> {
        let p = OpenPort::start().await?;
        self.map.insert(sock(ip, port), p.addr());
        self.keep.push(Box::new(p));
        Ok(())
    }

    fn closed(&mut self, ip: [u8; 4], port: u16) -> Result<(), LabError> {
        self.map.insert(sock(ip, port), closed_port()?);
        Ok(())
    }

    fn a(&mut self, name: &str, ip: [u8; 4]) {
        self.zone.add_a(name, Ipv4Addr::from(ip));
    }
}

fn sock(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// The running demo world. Everything stops, and the DNS settings file is deleted, on drop.
pub struct DemoWorld {
    ca: Ca,
    dns: DnsServer,
    proxy: Proxy,
    map: HashMap<SocketAddr, SocketAddr>,
    vars: BTreeMap<String, Value>,
    _keep: Vec<Box<dyn Any + Send + Sync>>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for DemoWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoWorld").field("dns", &self.dns.addr()).field("proxy", &self.proxy.addr()).finish_non_exhaustive()
    }
}

impl DemoWorld {
    /// Generates the CAs, starts every listener, the resolver and the proxy, and writes the
    /// DNS settings file into a fresh temporary directory. Takes about half a second (the
    /// filtered ports verify themselves).
    ///
    /// Errors: [`LabError::Cert`] or [`LabError::Io`] from any of those steps.
    pub async fn start() -> Result<DemoWorld, LabError> {
        let mut b = Builder {
            ca: Ca::new("netspec lab root CA")?,
            rogue: Ca::new("Contoso TLS Inspection CA")?,
            zone: DnsZone::new(),
            map: HashMap::new(),
            keep: Vec::new(),
        };
        // Unknown names here are NXDOMAIN (japaneast, shir-node4), not REFUSED.
        b.zone.authoritative_for("arcdataservices.com");
        b.zone.authoritative_for("corp.example");

        // Arc SQL: one /24 per region; DPS at .10, telemetry at .20.
        for (i, region) in (1u8..).zip(REGIONS) {
            if region == "japaneast" {
                continue;
            }
            let dps = format!("dataprocessingservice.{region}.arcdataservices.com");
            let tel = format!("telemetry.{region}.arcdataservices.com");
            let (dps_ip, tel_ip) = ([20, 50, i, 10], [20, 50, i, 20]);
            b.a(&dps, dps_ip);
            b.a(&tel, tel_ip);
            let ok = Reply::new(200, "{\"status\":\"ok\"}").header("Content-Type", "application/json");
            match region {
                "southeastasia" => b.filtered(dps_ip, 443).await?,
                "uksouth" => b.closed(dps_ip, 443)?,
                "australiaeast" => b.https(dps_ip, &[&dps], Cert::Untrusted, ok).await?,
                "centralus" => b.https(dps_ip, &[&dps], Cert::Expired, ok).await?,
                _ => b.https(dps_ip, &[&dps], Cert::Lab, ok).await?,
            }
            let tel_reply = if region == "westeurope" {
                Reply::new(200, "<html><title>Contoso web gateway</title></html>")
            } else {
                Reply::new(401, "").header("WWW-Authenticate", "Bearer")
            };
            b.https(tel_ip, &[&tel], Cert::Lab, tel_reply).await?;
        }

        // Migrate: key vault healthy, blob leaks its public address, discovery disagrees
        // with the DNS settings file.
        let kv = format!("{KEY_VAULT}.vault.azure.net");
        let kv_pl = format!("{KEY_VAULT}.privatelink.vaultcore.azure.net");
        b.zone.add_cname(&kv, &kv_pl);
        b.a(&kv_pl, [10, 12, 4, 20]);
        let unauthorized = Reply::new(401, "").header("WWW-Authenticate", "Bearer");
        let kv_names = [kv.as_str(), kv_pl.as_str()];
        b.https([10, 12, 4, 20], &kv_names, Cert::Lab, unauthorized.clone()).await?;
        let blob = format!("{STORAGE_ACCOUNT}.blob.core.windows.net");
        let blob_pl = format!("{STORAGE_ACCOUNT}.privatelink.blob.core.windows.net");
        let blob_public = "blob.cus20prdstr02a.store.core.windows.net";
        b.zone.add_cname(&blob, &blob_pl).add_cname(&blob_pl, blob_public);
        b.a(blob_public, [20, 60, 1, 10]);
        let disc_pl = DISCOVERY.replace(".disc.prod.", ".disc.privatelink.prod.");
        b.zone.add_cname(DISCOVERY, &disc_pl);
        b.a(&disc_pl, [10, 12, 4, 23]);
        let portal = Reply::new(200, "<html><title>Microsoft Azure</title></html>");
        // The redirect points at a host the world plays, in case the client follows it.
        let login = Reply::new(302, "").header("Location", "https://portal.azure.com/");
        for (host, ip, reply) in [
            ("portal.azure.com", [20, 50, 200, 10], portal),
            ("login.microsoftonline.com", [20, 50, 200, 20], login),
            ("management.azure.com", [20, 50, 200, 30], unauthorized.clone()),
        ] {
            b.a(host, ip);
            b.https(ip, &[host], Cert::Lab, reply).await?;
        }

        // ADF SHIR: the service is healthy; node1 open, node2 closed, node3 filtered, node4
        // missing.
        b.a(SERVICE_HOST, [20, 50, 210, 10]);
        let service = Reply::new(200, "{\"status\":\"online\"}");
        b.https([20, 50, 210, 10], &[SERVICE_HOST], Cert::Lab, service).await?;
        for (node, i) in NODES[..3].iter().zip(10..) {
            b.a(node, [10, 2, 4, i]);
        }
        b.open([10, 2, 4, 10], 8060).await?;
        b.closed([10, 2, 4, 11], 8060)?;
        b.filtered([10, 2, 4, 12], 8060).await?;

        // The proxy resolves through the world's own zone and map, so it only ever reaches
        // the world's listeners (and it refuses non-loopback routes itself).
        let (zone, map) = (b.zone.clone(), b.map.clone());
        let route: Route = Arc::new(move |host, port| {
            let ips = match host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => zone.resolve(host),
            };
            ips.into_iter().find_map(|ip| map.get(&SocketAddr::new(ip, port)).copied())
        });
        let proxy = Proxy::start(ProxyConfig { credentials: Some((PROXY_USER.into(), PROXY_PASSWORD.into())), route }).await?;

        let dns = DnsServer::start(b.zone.clone()).await?;
        let dir = tempfile::Builder::new().prefix("netspec-demo-").tempdir()?;
        let settings = dir.path().join("dns-settings.txt");
        std::fs::write(
            &settings,
            format!(
                "# Azure Migrate private endpoint DNS settings (netspec demo)\n\
                 10.12.4.20 {kv_pl}\n10.12.4.21 {blob_pl}\n10.12.4.22 {disc_pl}\n"
            ),
        )?;

        let vars = [
            ("resolver", json!("corp")),
            ("corp_dns", json!(dns.addr().to_string())),
            ("dns_settings", json!(settings.to_string_lossy())),
            ("key_vault", json!(KEY_VAULT)),
            ("storage_account", json!(STORAGE_ACCOUNT)),
            ("discovery_host", json!(DISCOVERY)),
            ("service_host", json!(SERVICE_HOST)),
            ("proxy_url", json!(format!("http://{}", proxy.addr()))),
            ("proxy_user", json!(PROXY_USER)),
            ("nodes", json!(NODES)),
        ];
        let vars = vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        Ok(DemoWorld { ca: b.ca, dns, proxy, map: b.map, vars, _keep: b.keep, _dir: dir })
    }

    /// `(public-looking address, port)` → the loopback listener that plays it. The world's own
    /// loopback services (the resolver at [`Self::dns_addr`], the proxy in `vars()["proxy_url"]`)
    /// are not in it: clients dial those directly.
    pub fn address_map(&self) -> &HashMap<SocketAddr, SocketAddr> {
        &self.map
    }

    /// The lab resolver (`127.0.0.1:PORT`, UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns.addr()
    }

    /// The trust root the demo run must trust (DER). The untrusted CA is not exposed.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.cert_der()
    }

    /// The same trust root, PEM encoded.
    pub fn ca_pem(&self) -> String {
        self.ca.cert_pem()
    }

    /// Suite variables for all three suites (extra ones are harmless to each): `resolver`,
    /// `corp_dns`, `dns_settings` (absolute path), `key_vault`, `storage_account`,
    /// `discovery_host`, `service_host`, `proxy_url`, `proxy_user`, `nodes` (array).
    pub fn vars(&self) -> BTreeMap<String, Value> {
        self.vars.clone()
    }

    /// The Arc SQL regions the demo runs (values for the suite's `region` matrix).
    pub fn regions(&self) -> Vec<String> {
        REGIONS.iter().map(|r| r.to_string()).collect()
    }

    /// Each planted fault: (suite name as in its `name:`, scenario instance or check name,
    /// what is broken). Everything not listed is healthy.
    pub fn scenarios(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        SCENARIOS.to_vec()
    }

    /// How many DNS messages the lab resolver has received.
    pub fn dns_queries(&self) -> u64 {
        self.dns.queries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::dns::tests::query;
    use crate::loopback::http::tests::https_get;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::{RData, RecordType};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    #[test]
    fn world_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        fn send<T: Send>(_: T) {}
        shared::<DemoWorld>();
        send(DemoWorld::start()); // the core may `tokio::spawn` the start future
    }

    #[tokio::test]
    async fn planted_behaviour() {
        let w = DemoWorld::start().await.unwrap();
        let at = |ip: [u8; 4], port| w.address_map()[&sock(ip, port)];

        // DNS: japaneast does not exist; blob leaks a public address behind privatelink.
        let m = query(w.dns_addr(), "telemetry.japaneast.arcdataservices.com", RecordType::A, false).await.unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        let blob = format!("{STORAGE_ACCOUNT}.blob.core.windows.net");
        let m = query(w.dns_addr(), &blob, RecordType::A, false).await.unwrap();
        let last = m.answers.last().map(|r| r.data.clone());
        assert_eq!(m.answers.len(), 3);
        assert_eq!(last, Some(RData::A(Ipv4Addr::new(20, 60, 1, 10).into())));
        assert_eq!(w.dns_queries(), 2);

        // eastus DPS is healthy: 200 over a certificate from the lab CA.
        let dps = "dataprocessingservice.eastus.arcdataservices.com";
        let resp = https_get(at([20, 50, 1, 10], 443), dps, w.ca_der()).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
        // westeurope telemetry answers 200 instead of 401.
        let tel = "telemetry.westeurope.arcdataservices.com";
        let resp = https_get(at([20, 50, 3, 20], 443), tel, w.ca_der()).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
        // australiaeast DPS is signed by the untrusted CA.
        let dps = "dataprocessingservice.australiaeast.arcdataservices.com";
        assert!(https_get(at([20, 50, 7, 10], 443), dps, w.ca_der()).await.is_err());
        // uksouth DPS is reset; shir-node1 is open.
        assert!(TcpStream::connect(at([20, 50, 5, 10], 443)).await.is_err());
        assert!(TcpStream::connect(at([10, 2, 4, 10], 8060)).await.is_ok());

        // The proxy challenges the suite's credential-less request.
        let mut s = TcpStream::connect(w.proxy.addr()).await.unwrap();
        s.write_all(format!("CONNECT {SERVICE_HOST}:443 HTTP/1.1\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 407 "), "{out}");

        // The DNS settings file exists and disagrees with DNS for discovery.
        let vars = w.vars();
        let path = vars["dns_settings"].as_str().unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("10.12.4.22 04b8c9c73f3d477e966c8d00f352889c-agent.cus.disc.privatelink.prod."));
        assert_eq!(vars["proxy_url"], json!(format!("http://{}", w.proxy.addr())));
        assert_eq!(vars["nodes"].as_array().unwrap().len(), 4);
        assert!(w.address_map().values().all(|a| a.ip().is_loopback()));
        drop(w);
        assert!(!std::path::Path::new(path).exists());
    }
}
