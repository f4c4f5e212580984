//! Compiles the inventory proto with protox (pure Rust: no system `protoc`) and
//! generates the tonic client and server with tonic-prost-build, as
//! `crates/tracewire-grpc/build.rs` does.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["tracewire/inventory/v1/inventory.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
