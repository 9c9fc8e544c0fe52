//! The dashboard's checked-in TypeScript types are exactly what this crate generates, so the
//! dashboard cannot drift from the API. `TORU_UPDATE_TS=1` rewrites the file instead.

use std::path::PathBuf;

/// `frontend/src/lib/api-types.ts`, from this crate's directory.
fn checked_in_path() -> PathBuf {
    let repository = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    repository
        .canonicalize()
        .unwrap_or(repository)
        .join("frontend/src/lib/api-types.ts")
}

#[test]
fn the_checked_in_typescript_types_match_the_crate() {
    let generated = toru_api::typescript();
    let path = checked_in_path();
    if std::env::var_os("TORU_UPDATE_TS").is_some() {
        std::fs::write(&path, &generated).expect("write api-types.ts");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in == generated {
        return;
    }
    let first_difference = checked_in
        .lines()
        .zip(generated.lines())
        .enumerate()
        .find(|(_, (old, new))| old != new)
        .map(|(n, (old, new))| format!("first difference at line {}:\n- {old}\n+ {new}", n + 1))
        .unwrap_or_else(|| {
            format!(
                "the files differ in length: {} lines checked in, {} generated",
                checked_in.lines().count(),
                generated.lines().count()
            )
        });
    panic!(
        "{} is not what toru-api generates; {first_difference}\n\
         Update it with: TORU_UPDATE_TS=1 cargo test -p toru-api --test typescript",
        path.display()
    );
}
