//! Compiles `proto/` with protox (a pure-Rust protobuf compiler, so no
//! `protoc` is needed on the machine) and generates prost messages and tonic
//! clients/servers. The encoded descriptor set is kept for gRPC reflection and
//! for the edge's REST bridge, which reads the `google.api.http` options.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "scout/common/v1/common.proto",
    "scout/identity/v1/identity.proto",
    "scout/tasks/v1/tasks.proto",
    "scout/vision/v1/vision.proto",
    "scout/render/v1/render.proto",
    "scout/publish/v1/publish.proto",
    "scout/jobs/v1/jobs.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    let mut compiler = protox::Compiler::new([&root])?;
    compiler
        .include_imports(true)
        .include_source_info(true)
        .open_files(&files)?;
    // The encoded set keeps custom options (google.api.http) that the typed
    // prost_types form would drop; reflection and the REST bridge read them.
    std::fs::write(
        out.join("scout_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    let fds = compiler.file_descriptor_set();

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .include_file("mod.rs")
        .compile_fds(fds)?;

    println!("cargo:rerun-if-changed=scout");
    println!("cargo:rerun-if-changed=google");
    Ok(())
}
