//! One image name and tag everywhere: `corekv:<version>`, where the version
//! is the crate's (Cargo.toml `[workspace.package]`), the Helm chart's
//! `appVersion` (the chart's default image tag), the compose file's default
//! tag and every `corekv:X.Y.Z` that README.md and the Dockerfile mention.
//! Following the repository's own steps must give the image the chart and
//! compose ask for.

use std::fs;
use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The value of the first `key = "value"` (or `key: "value"`) line after
/// the line `section` (or from the top with an empty `section`).
fn field(text: &str, section: &str, key: &str) -> String {
    let mut lines = text.lines();
    if !section.is_empty() {
        lines.find(|l| l.trim() == section).expect(section);
    }
    let line = lines
        .map(str::trim)
        .find(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(['=', ':']))
        })
        .unwrap_or_else(|| panic!("no {key} after {section:?}"));
    let value = line[key.len()..].trim_start()[1..].trim();
    value.trim_matches('"').to_string()
}

fn crate_version() -> String {
    field(&read("Cargo.toml"), "[workspace.package]", "version")
}

/// Every `corekv:<tag>` in `text` whose tag looks like a version (a digit
/// first, a dot inside): not `latest`, not a `kv-corekv:6379` address.
fn versioned_tags(text: &str) -> Vec<String> {
    text.match_indices("corekv:")
        .filter(|(i, _)| {
            !text[..*i].ends_with(|c: char| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || ".-+".contains(*c))
                .collect::<String>()
                .trim_end_matches('.')
                .to_string()
        })
        .filter(|tag| tag.starts_with(|c: char| c.is_ascii_digit()) && tag.contains('.'))
        .collect()
}

#[test]
fn chart_app_version_is_the_crate_version() {
    let chart = read("deploy/helm/corekv/Chart.yaml");
    assert_eq!(field(&chart, "", "appVersion"), crate_version());
    let values = read("deploy/helm/corekv/values.yaml");
    assert_eq!(field(&values, "image:", "repository"), "corekv");
    // An empty tag: the chart's appVersion.
    assert_eq!(field(&values, "image:", "tag"), "");
}

#[test]
fn compose_image_is_corekv_at_the_crate_version() {
    let compose = read("deploy/docker-compose.yml");
    let image = field(&compose, "", "image");
    assert_eq!(
        image,
        format!("corekv:${{COREKV_VERSION:-{}}}", crate_version())
    );
}

#[test]
fn readme_and_dockerfile_name_the_crate_version() {
    let version = crate_version();
    for path in ["README.md", "Dockerfile", "deploy/docker-compose.yml"] {
        let text = read(path);
        let tags = versioned_tags(&text);
        assert!(
            tags.iter().all(|t| *t == version),
            "{path} names corekv:{tags:?}, the crate is {version}"
        );
        assert!(!text.contains("corekv:local"), "{path} names corekv:local");
    }
    // README's Deploy section builds and runs the versioned image.
    let readme = read("README.md");
    assert!(
        readme.contains(&format!(
            "docker build -t corekv:{version} -t corekv:latest"
        )),
        "README builds corekv:{version} and corekv:latest"
    );
    assert!(!versioned_tags(&readme).is_empty());
}

#[test]
fn version_tag_parsing() {
    assert_eq!(
        versioned_tags("run corekv:0.1.0. or corekv:latest, corekv:1.2.3-rc1 x"),
        ["0.1.0", "1.2.3-rc1"]
    );
    assert!(versioned_tags("redis-cli -h kv-corekv:6379 corekv:6379").is_empty());
    assert_eq!(versioned_tags("r.example/corekv:9.9.9"), ["9.9.9"]);
    assert_eq!(
        field("a: 1\nappVersion: \"0.1.0\"\n", "", "appVersion"),
        "0.1.0"
    );
    assert_eq!(
        field(
            "[x]\nversion = \"1\"\n[y]\nversion = \"2\"",
            "[y]",
            "version"
        ),
        "2"
    );
}
