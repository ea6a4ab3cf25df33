//! Compiles the C pieces: INCRBYFLOAT's `long double` arithmetic
//! (src/partition/long_double.c says why) and sorted-set scores as Redis
//! parses and prints them (src/partition/coll/score.c).

fn main() {
    println!("cargo:rerun-if-changed=src/partition/long_double.c");
    println!("cargo:rerun-if-changed=src/partition/coll/score.c");
    cc::Build::new()
        .file("src/partition/long_double.c")
        .file("src/partition/coll/score.c")
        .warnings(true)
        .compile("corekv_long_double");
}
