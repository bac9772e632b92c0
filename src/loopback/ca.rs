//! A lab certificate authority: generated in memory at start, issues leaf certificates for the
//! lab's HTTPS servers. Nothing is written to disk; trust it by adding [`Ca::cert_der`] to a
//! rustls `RootCertStore`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::LabError;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Validity window of an issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Valid from one day ago for 90 days (comfortably passes an `expires_in: {min: 14d}`).
    Current,
    /// Issued 400 days ago, valid for 30 days: expired 370 days ago.
    Expired,
}

/// A certificate chain and its private key, ready for a rustls server.
#[derive(Debug)]
pub struct Identity {
    /// The leaf certificate first; the lab issues directly from the root, so it is the only
    /// entry (clients must trust the root themselves).
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's PKCS#8 private key (ECDSA P-256).
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity { chain: self.chain.clone(), key: self.key.clone_key() }
    }
}

/// A self-signed lab root CA that signs leaf certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert: rcgen::Certificate,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The issuer holds a private key: show only that this is a CA.
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// Parameters valid from `days_ago` days before now for `lifetime_days` days, computed from the
/// Unix epoch so that we need no direct dependency on the `time` crate.
fn window(days_ago: u32, lifetime_days: u32) -> CertificateParams {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut params = CertificateParams::default();
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch.saturating_sub(DAY * days_ago);
    params.not_after = params.not_before + DAY * lifetime_days;
    params
}

impl Ca {
    /// Generates a fresh root CA (ECDSA P-256, valid from 800 days ago for 10 years) whose
    /// subject common name is `common_name`.
    ///
    /// Errors: [`LabError::Cert`] if key generation or signing fails.
    pub fn new(common_name: &str) -> Result<Ca, LabError> {
        let mut params = window(800, 800 + 3650);
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.distinguished_name.push(DnType::OrganizationName, "netspec lab");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Ca { issuer: Issuer::new(params, key), cert })
    }

    /// The root certificate, PEM encoded (`-----BEGIN CERTIFICATE-----`...).
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// The root certificate, DER encoded: add it to a `RootCertStore` to trust this CA.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// Issues a server certificate for `dns_names` (subject alternative names; the first one is
    /// also the common name; IP literals become IP SANs), signed by this CA.
    ///
    /// Errors: [`LabError::Cert`] for an invalid name or a signing failure.
    pub fn issue(&self, dns_names: &[&str], validity: Validity) -> Result<Identity, LabError> {
        let mut params = match validity {
            Validity::Current => window(1, 91),
            Validity::Expired => window(400, 30),
        };
        let sans: Vec<String> = dns_names.iter().map(|n| n.to_string()).collect();
        params.subject_alt_names = CertificateParams::new(sans)?.subject_alt_names;
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(first) = dns_names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Identity { chain: vec![cert.der().clone()], key: PrivatePkcs8KeyDer::from(key.serialize_der()).into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_leaf_chaining_to_root() {
        let ca = Ca::new("test root").unwrap();
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let id = ca.issue(&["a.example", "127.0.0.1"], Validity::Current).unwrap();
        assert_eq!(id.chain.len(), 1);
        assert_ne!(id.chain[0].as_ref(), ca.cert_der().as_ref());
        let copy = id.clone();
        assert_eq!(copy.key.secret_der(), id.key.secret_der());
    }
}
