//! Compiles the one piece of C: INCRBYFLOAT's `long double` arithmetic
//! (src/partition/long_double.c says why).

fn main() {
    println!("cargo:rerun-if-changed=src/partition/long_double.c");
    cc::Build::new()
        .file("src/partition/long_double.c")
        .warnings(true)
        .compile("corekv_long_double");
}
