//! # ferry-build: Rust code from `.proto` files, with no `protoc`
//!
//! Call it from a build script. [`protox`] parses and checks the `.proto`
//! files, [`prost_build`] generates the message types, and Ferry's own
//! service generator adds, for each service, a server trait with a router
//! and a client struct:
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), ferry_build::Error> {
//!     ferry_build::compile_protos(&["proto/chat.proto"], &["proto"])
//! }
//! ```
//!
//! ```ignore
//! // src/lib.rs
//! pub mod aihub {
//!     ferry::include_proto!("aihub");
//! }
//! ```
//!
//! For `service ChatHub` in package `aihub` that gives:
//!
//! - `aihub::chat_hub_server::ChatHub`: a trait with one async method per
//!   RPC; each has a default body that answers UNIMPLEMENTED.
//! - `aihub::chat_hub_server::ChatHubServer<T>`: the router, for
//!   `ferry::Server::builder().add_service(ChatHubServer::new(my_impl))`.
//! - `aihub::chat_hub_client::ChatHubClient`: one method per RPC over a
//!   `ferry::Channel`, taking a message or a `ferry::Request` with per-call
//!   options.
//!
//! Proto comments become rustdoc. The generated code is thin: every method
//! is one line calling the runtime's generic functions, so a service of N
//! methods costs N short match arms and N short methods.
//!
//! The well-known types (`google/protobuf/wrappers.proto`, `timestamp`,
//! `duration`, `empty`, `any`, `struct`, ...) resolve without an include
//! path and map to the `prost-types` crate (`Empty` maps to `()`), so a crate
//! that uses them depends on `prost-types`.
//!
//! A mistake in a `.proto` file fails the build with `file:line:column:
//! message`, as a compiler would report it.
//!
//! `import "ferry/options.proto";` (built in, no include path) brings
//! Ferry's method options: `option (ferry.one_way) = true;` on a unary
//! method gives its client a `<method>_one_way` method that returns once the
//! request is sent.

mod error;
mod options;
mod service;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use prost::Message as _;

pub use error::Error;

/// Compiles `protos` (found under `includes`) into Rust, server and client,
/// in `OUT_DIR`. The same as `configure().compile(protos, includes)`.
pub fn compile_protos(
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<(), Error> {
    configure().compile(protos, includes)
}

/// A builder with the defaults: server and client, output in `OUT_DIR`,
/// `cargo:rerun-if-changed` lines for every input file.
pub fn configure() -> Builder {
    Builder {
        server: true,
        client: true,
        out_dir: None,
        descriptor_set: None,
        extern_paths: Vec::new(),
        type_attributes: Vec::new(),
        field_attributes: Vec::new(),
        bytes_fields: Vec::new(),
        rerun_if_changed: true,
        one_way_all_unary: false,
    }
}

/// What to generate and where: see [`configure`].
#[derive(Debug, Clone)]
pub struct Builder {
    server: bool,
    client: bool,
    out_dir: Option<PathBuf>,
    descriptor_set: Option<PathBuf>,
    extern_paths: Vec<(String, String)>,
    type_attributes: Vec<(String, String)>,
    field_attributes: Vec<(String, String)>,
    bytes_fields: Vec<String>,
    rerun_if_changed: bool,
    one_way_all_unary: bool,
}

impl Builder {
    /// Whether to generate the server side (trait and router). Default: yes.
    pub fn build_server(mut self, yes: bool) -> Builder {
        self.server = yes;
        self
    }

    /// Whether to generate the client side. Default: yes.
    pub fn build_client(mut self, yes: bool) -> Builder {
        self.client = yes;
        self
    }

    /// Where the `.rs` files go (one per protobuf package, named after it).
    /// Default: the `OUT_DIR` cargo gives build scripts.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Also writes the compiled `FileDescriptorSet` (with imports and
    /// source info) to `path`, as server reflection needs.
    pub fn file_descriptor_set_path(mut self, path: impl Into<PathBuf>) -> Builder {
        self.descriptor_set = Some(path.into());
        self
    }

    /// Uses existing Rust types for a protobuf package or type instead of
    /// generating them: `extern_path(".common", "::common_protos")`.
    pub fn extern_path(
        mut self,
        proto_path: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Builder {
        self.extern_paths
            .push((proto_path.into(), rust_path.into()));
        self
    }

    /// Adds an attribute to the generated messages and enums matching
    /// `path` (`.` for all, `.aihub.ChatRequest` for one):
    /// `type_attribute(".", "#[derive(serde::Serialize)]")`.
    pub fn type_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Builder {
        self.type_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to the generated fields matching `path`
    /// (`.aihub.ChatRequest.prompt`).
    pub fn field_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Builder {
        self.field_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Generates the protobuf `bytes` fields matching these paths (`.` for
    /// every one, `.pkg.Message` for a message's, `.pkg.Message.field` for
    /// one) as `bytes::Bytes` instead of `Vec<u8>`. A received message's
    /// field then points into the buffer the message arrived in (no copy),
    /// and cloning one to send it again only counts a reference. Can be
    /// called more than once.
    pub fn bytes(mut self, paths: impl IntoIterator<Item = impl Into<String>>) -> Builder {
        self.bytes_fields.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for every `.proto` file
    /// read (imports included). Default: yes; turn it off outside build
    /// scripts.
    pub fn emit_rerun_if_changed(mut self, yes: bool) -> Builder {
        self.rerun_if_changed = yes;
        self
    }

    /// Gives every unary method a `<method>_one_way` client method, not
    /// only those marked `option (ferry.one_way) = true`. Default: no.
    pub fn one_way_for_all_unary(mut self, yes: bool) -> Builder {
        self.one_way_all_unary = yes;
        self
    }

    /// Compiles `protos`, each found under one of `includes`, with every
    /// file they import.
    pub fn compile(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        if protos.is_empty() {
            return Err(Error::usage("ferry-build: no .proto files to compile"));
        }
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or_else(|| {
                Error::usage(
                    "ferry-build: OUT_DIR is not set; call it from a build script or set out_dir",
                )
            })?,
        };

        let mut resolver = protox::file::ChainFileResolver::new();
        for include in includes {
            resolver.add(protox::file::IncludeFileResolver::new(
                include.as_ref().to_owned(),
            ));
        }
        resolver.add(options::OptionsResolver);
        resolver.add(protox::file::GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true).include_source_info(true);
        compiler.open_files(protos).map_err(|e| Error::proto(&e))?;

        if self.rerun_if_changed {
            let read: BTreeSet<&Path> = compiler.files().filter_map(|f| f.path()).collect();
            for path in read {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }

        let one_way = if self.one_way_all_unary {
            None
        } else {
            Some(options::one_way_methods(&compiler.descriptor_pool()))
        };
        let descriptors = compiler.file_descriptor_set();
        if let Some(path) = &self.descriptor_set {
            std::fs::write(path, descriptors.encode_to_vec())
                .map_err(|e| Error::io(Some(path.clone()), e))?;
        }

        let mut config = prost_build::Config::new();
        config.out_dir(&out_dir);
        for (proto, rust) in &self.extern_paths {
            config.extern_path(proto, rust);
        }
        for (path, attribute) in &self.type_attributes {
            config.type_attribute(path, attribute);
        }
        for (path, attribute) in &self.field_attributes {
            config.field_attribute(path, attribute);
        }
        config.bytes(&self.bytes_fields);
        config.service_generator(Box::new(service::Generator {
            parts: service::Parts {
                server: self.server,
                client: self.client,
            },
            one_way,
        }));
        std::fs::create_dir_all(&out_dir).map_err(|e| Error::io(Some(out_dir.clone()), e))?;
        config
            .compile_fds(descriptors)
            .map_err(|e| Error::io(None, e))
    }
}
