#![allow(clippy::unwrap_used)] // a test fails loudly

use std::io::{Cursor, Read};

use aes::cipher::{BlockEncryptMut, KeyIvInit};
use proptest::prelude::*;

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/encrypted");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn key(kdf: KeyDerivation) -> DecryptionKey {
    DecryptionKey::new(Password::new(b"fixture password".to_vec()), kdf)
}

const PBKDF2_1000: KeyDerivation = KeyDerivation::Pbkdf2Sha256 { iterations: 1000 };

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// A reader that hands out at most a few bytes a call, so every refill path runs.
struct Trickle<R> {
    inner: R,
    sizes: Vec<usize>,
    call: usize,
}

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.sizes[self.call % self.sizes.len()].min(out.len());
        self.call += 1;
        self.inner.read(&mut out[..n])
    }
}

fn read_all(r: &mut impl Read) -> (Vec<u8>, Option<io::Error>) {
    let mut out = Vec::new();
    let mut chunk = [0u8; 100];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) => return (out, Some(e)),
        }
    }
}

#[test]
fn key_and_iv_are_derived_as_openssl_derives_them() {
    // Printed by `openssl enc -aes-256-cbc -md sha256 -iter 1000 -S 0001020304050607
    // -pass pass:'fixture password' -P` (see tests/fixtures/encrypted/PROVENANCE.md).
    let kv = key(PBKDF2_1000).derive(&[0, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(hex(&kv[..32]), "0E8BB2C105F9FC7EDCB4EAFE1CF6056D6C7216893B2D06FC01C3AA784AD8C3F1");
    assert_eq!(hex(&kv[32..]), "24D31175FBDF874D16392AF75A3E98A5");
    // `openssl enc -aes-256-cbc -md sha256 -S 08090a0b0c0d0e0f -pass pass:'fixture password' -P`.
    let kv = key(KeyDerivation::BytesToKeySha256).derive(&[8, 9, 10, 11, 12, 13, 14, 15]);
    assert_eq!(hex(&kv[..32]), "83BAFAAF816824644626EBF80CFE05C144B5BE4A83A15F224A1EB63349909385");
    assert_eq!(hex(&kv[32..]), "5AA92CF2B4F1CE6561E6E5712890C903");
}

#[test]
fn files_encrypted_by_openssl_decrypt_to_their_plaintext() {
    let plain = fixture("audit_filter.xml");
    for (file, kdf) in [("audit_filter.xml.pbkdf2-1000.enc", PBKDF2_1000), ("audit_filter.xml.bytes-to-key.enc", KeyDerivation::BytesToKeySha256)] {
        let mut r = EncryptedReader::new(Cursor::new(fixture(file)), &key(kdf)).unwrap();
        let (out, err) = read_all(&mut r);
        assert!(err.is_none(), "{file}: {err:?}");
        assert_eq!(out, plain, "{file}");
    }
}

#[test]
fn a_few_bytes_at_a_time_read_the_same() {
    let plain = fixture("audit_filter.xml");
    for sizes in [vec![1], vec![3, 17, 5], vec![16], vec![15, 1, 33]] {
        let inner = Trickle { inner: Cursor::new(fixture("audit_filter.xml.pbkdf2-1000.enc")), sizes, call: 0 };
        let mut r = EncryptedReader::new(inner, &key(PBKDF2_1000)).unwrap();
        assert_eq!(read_all(&mut r).0, plain);
    }
}

#[test]
fn a_wrong_password_or_derivation_is_refused_before_any_plaintext() {
    let file = fixture("audit_filter.xml.pbkdf2-1000.enc");
    let wrong_password = DecryptionKey::new(Password::new(b"fixture passwore".to_vec()), PBKDF2_1000);
    let wrong_iterations = key(KeyDerivation::Pbkdf2Sha256 { iterations: 999 });
    let wrong_kdf = key(KeyDerivation::BytesToKeySha256);
    for k in [wrong_password, wrong_iterations, wrong_kdf] {
        let e = EncryptedReader::new(Cursor::new(file.clone()), &k).unwrap_err();
        assert!(matches!(e, DecryptError::WrongKey { .. }), "{e}");
        assert!(e.to_string().starts_with("cannot decrypt: wrong password or not an encrypted audit log ("), "{e}");
    }
}

#[test]
fn a_plain_file_is_not_encrypted() {
    let e = EncryptedReader::new(Cursor::new(fixture("audit_filter.xml")), &key(PBKDF2_1000)).unwrap_err();
    assert!(matches!(e, DecryptError::NotEncrypted), "{e}");
}

#[test]
fn a_cut_file_hands_out_what_it_holds_then_says_where_it_is_cut() {
    let plain = fixture("audit_filter.xml");
    let file = fixture("audit_filter.xml.pbkdf2-1000.enc");
    // Inside a block: every whole block before the cut is plaintext.
    let cut = 16 + 64 * 16 + 5;
    let mut r = EncryptedReader::new(Cursor::new(file[..cut].to_vec()), &key(PBKDF2_1000)).unwrap();
    let (out, err) = read_all(&mut r);
    assert_eq!(out, plain[..64 * 16]);
    let err = err.unwrap().into_inner().unwrap().downcast::<DecryptError>().unwrap();
    assert!(matches!(*err, DecryptError::Truncated { trailing: 5, at: 1040 }), "{err}");
    // At a block boundary (as a live file is until the server closes it): no valid padding.
    let cut = 16 + 64 * 16;
    let mut r = EncryptedReader::new(Cursor::new(file[..cut].to_vec()), &key(PBKDF2_1000)).unwrap();
    let (out, err) = read_all(&mut r);
    assert_eq!(out, plain[..64 * 16]);
    let err = err.unwrap().into_inner().unwrap().downcast::<DecryptError>().unwrap();
    assert!(matches!(*err, DecryptError::BadPadding { at: 1024 }), "{err}");
    // Nothing after the header.
    let e = EncryptedReader::new(Cursor::new(file[..20].to_vec()), &key(PBKDF2_1000)).unwrap_err();
    assert!(matches!(e, DecryptError::NoData { trailing: 4 }), "{e}");
}

#[test]
fn the_full_json_of_percona_with_its_salt_in_upper_case_hex_decrypts() {
    // Percona's audit_log_encryption_password_get() returns password, salt (boost::hex, upper case)
    // and iterations; the salt is the one in this fixture's header.
    let k = DecryptionKey::parse(br#"{"password":"fixture password","salt":"9E9392C8AB209E51","iterations":1000}"#, None, "t").unwrap();
    let mut r = EncryptedReader::new(Cursor::new(fixture("audit_filter.xml.pbkdf2-1000.enc")), &k).unwrap();
    assert_eq!(read_all(&mut r).0, fixture("audit_filter.xml"));
}

#[test]
fn a_keyring_salt_that_is_not_the_files_is_named() {
    let k = DecryptionKey::parse(br#"{"password":"fixture password","iterations":1000,"salt":"0001020304050607"}"#, None, "t").unwrap();
    let e = EncryptedReader::new(Cursor::new(fixture("audit_filter.xml.pbkdf2-1000.enc")), &k).unwrap_err();
    assert!(matches!(e, DecryptError::SaltMismatch), "{e}");
}

#[test]
fn decode_refuses_input_without_the_header() {
    let k = DecryptionKey::parse(br#"{"password":"fixture password","iterations":1000}"#, None, "t").unwrap();
    let e = decode(Cursor::new(fixture("audit_filter.json")), &k).err().unwrap();
    assert!(matches!(e, DecryptError::NotEncrypted), "{e}");
    let mut plain = Vec::new();
    decode(Cursor::new(fixture("audit_filter.xml.pbkdf2-1000.enc")), &k).unwrap().read_to_end(&mut plain).unwrap();
    assert_eq!(plain, fixture("audit_filter.xml"));
}

/// Encrypts as `openssl enc -aes-256-cbc -md sha256 -salt` does (for generated cases; the fixtures
/// come from openssl itself).
fn encrypt(plain: &[u8], k: &DecryptionKey, salt: [u8; 8]) -> Vec<u8> {
    let kv = k.derive(&salt);
    let mut enc = cbc::Encryptor::<aes::Aes256>::new(GenericArray::from_slice(&kv[..32]), GenericArray::from_slice(&kv[32..]));
    let pad = BLOCK - plain.len() % BLOCK;
    let mut data = plain.to_vec();
    data.resize(plain.len() + pad, pad as u8);
    for block in data.chunks_exact_mut(BLOCK) {
        enc.encrypt_block_mut(GenericArray::from_mut_slice(block));
    }
    [&MAGIC[..], &salt, &data].concat()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_text_round_trips_whatever_the_read_sizes(
        text in "[ -~\n\t]{0,300000}",
        salt in any::<[u8; 8]>(),
        sizes in prop::collection::vec(1usize..70000, 1..5),
    ) {
        let k = key(KeyDerivation::BytesToKeySha256);
        let file = encrypt(text.as_bytes(), &k, salt);
        let inner = Trickle { inner: Cursor::new(file), sizes, call: 0 };
        let mut r = EncryptedReader::new(inner, &k).unwrap();
        let (out, err) = read_all(&mut r);
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(out, text.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Arbitrary bytes after a header: an error or plaintext, never a panic, and never more bytes
    /// out than came in.
    #[test]
    fn any_bytes_are_refused_or_read_without_panicking(salt in any::<[u8; 8]>(), body in prop::collection::vec(any::<u8>(), 0..600), sizes in prop::collection::vec(1usize..40, 1..4)) {
        let file = [&MAGIC[..], &salt, &body].concat();
        let inner = Trickle { inner: Cursor::new(file), sizes, call: 0 };
        if let Ok(mut r) = EncryptedReader::new(inner, &key(KeyDerivation::BytesToKeySha256)) {
            let (out, _) = read_all(&mut r);
            prop_assert!(out.len() <= body.len());
        }
    }
}
