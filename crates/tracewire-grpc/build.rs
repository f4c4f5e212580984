//! Compiles `proto/` with protox (pure Rust: no system `protoc`) and generates the
//! tonic client and server with tonic-prost-build, when the `demo-proto` feature is on.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "demo-proto")]
    {
        println!("cargo:rerun-if-changed=proto");
        let fds = protox::compile(["tracewire/demo/v1/stream.proto"], ["proto"])?;
        tonic_prost_build::configure()
            .build_transport(false)
            .codec_path("crate::codec::InvalidArgumentCodec")
            .compile_fds(fds)?;
    }
    Ok(())
}
