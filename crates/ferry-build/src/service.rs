//! The service generator: for each protobuf service, a server trait with a
//! router and a client struct. Everything generated calls the runtime
//! through `::ferry::codegen`, one line per method.

use std::fmt::Write;

use heck::ToSnakeCase;
use prost_build::{Comments, Method, Service};

/// Names a generated client already uses for its own methods; an RPC whose
/// Rust name is one of these gets an `_rpc` suffix.
const CLIENT_RESERVED: &[&str] = &["new", "connect", "channel", "into_channel"];

/// What [`Generator`] emits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parts {
    pub(crate) server: bool,
    pub(crate) client: bool,
}

/// Implements prost-build's `ServiceGenerator`.
#[derive(Debug)]
pub(crate) struct Generator {
    pub(crate) parts: Parts,
    /// Paths of the methods that get a one-way client method; `None`: every
    /// unary method.
    pub(crate) one_way: Option<std::collections::HashSet<String>>,
}

impl prost_build::ServiceGenerator for Generator {
    fn generate(&mut self, service: Service, buf: &mut String) {
        if self.parts.server {
            server(&service, buf);
        }
        if self.parts.client {
            client(&service, self.one_way.as_ref(), buf);
        }
    }
}

/// The fully qualified protobuf name, e.g. `aihub.ChatHub`.
fn full_name(service: &Service) -> String {
    if service.package.is_empty() {
        service.proto_name.clone()
    } else {
        format!("{}.{}", service.package, service.proto_name)
    }
}

/// A message type as seen from inside the generated `*_server` / `*_client`
/// module, one level below the package's module.
fn type_path(rust_type: &str) -> String {
    if rust_type.starts_with("::") || rust_type.starts_with("crate::") || rust_type == "()" {
        rust_type.to_owned()
    } else {
        format!("super::{rust_type}")
    }
}

fn docs(comments: &Comments, indent: u8, buf: &mut String) {
    // Detached comments are not documentation of what follows.
    let attached = Comments {
        leading_detached: Vec::new(),
        leading: comments.leading.clone(),
        trailing: comments.trailing.clone(),
    };
    attached.append_with_indent(indent, buf);
}

/// The service's own comments, then a blank doc line before what the
/// generator adds.
fn service_docs(service: &Service, buf: &mut String) {
    docs(&service.comments, 0, buf);
    if !service.comments.leading.is_empty() || !service.comments.trailing.is_empty() {
        buf.push_str("///\n");
    }
}

fn deprecated(method: &Method) -> &'static str {
    if method.options.deprecated() {
        "#[deprecated]\n"
    } else {
        ""
    }
}

fn server(service: &Service, buf: &mut String) {
    let trait_name = &service.name;
    let server_name = format!("{}Server", service.name);
    let module = format!("{}_server", service.name.to_snake_case());
    let full = full_name(service);

    let _ = writeln!(
        buf,
        "/// The server side of `{full}`: implement [`{module}::{trait_name}`] and serve it with \
         [`{module}::{server_name}`]."
    );
    let _ = writeln!(buf, "pub mod {module} {{");
    buf.push_str("use ::ferry::codegen as __ferry;\n\n");

    service_docs(service, buf);
    let _ = writeln!(
        buf,
        "/// Every method has a default body that answers UNIMPLEMENTED, so an \
         implementation overrides the methods it serves."
    );
    let _ = writeln!(
        buf,
        "pub trait {trait_name}: ::core::marker::Send + ::core::marker::Sync + 'static {{"
    );
    for method in &service.methods {
        let input = type_path(&method.input_type);
        let output = type_path(&method.output_type);
        let request = if method.client_streaming {
            format!("__ferry::Request<__ferry::Streaming<{input}>>")
        } else {
            format!("__ferry::Request<{input}>")
        };
        let reply = if method.server_streaming {
            format!("__ferry::Response<__ferry::ResponseStream<{output}>>")
        } else {
            format!("__ferry::Response<{output}>")
        };
        docs(&method.comments, 1, buf);
        buf.push_str(deprecated(method));
        let _ = writeln!(
            buf,
            "fn {name}(&self, request: {request}) -> impl ::core::future::Future<Output = \
             ::core::result::Result<{reply}, __ferry::Status>> + ::core::marker::Send {{\n\
             __ferry::unimplemented(request, {full:?}, {proto:?})\n}}",
            name = method.name,
            proto = method.proto_name,
        );
    }
    buf.push_str("}\n\n");

    let _ = writeln!(
        buf,
        "/// Serves a [`{trait_name}`]: pass it to `ferry::Server::builder().add_service(..)`.\n\
         pub struct {server_name}<T> {{\n    inner: ::std::sync::Arc<T>,\n}}\n\n\
         impl<T: {trait_name}> {server_name}<T> {{\n\
         /// Serves `inner`.\n\
         pub fn new(inner: T) -> Self {{\n    Self::from_arc(::std::sync::Arc::new(inner))\n}}\n\n\
         /// Serves an implementation shared with other owners.\n\
         pub fn from_arc(inner: ::std::sync::Arc<T>) -> Self {{\n    {server_name} {{ inner }}\n}}\n\
         }}\n\n\
         impl<T> ::core::clone::Clone for {server_name}<T> {{\n\
         fn clone(&self) -> Self {{\n    {server_name} {{ inner: self.inner.clone() }}\n}}\n}}\n\n\
         impl<T> ::core::fmt::Debug for {server_name}<T> {{\n\
         fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{\n\
         f.write_str({server_name:?})\n}}\n}}\n\n\
         /// The fully qualified service name.\n\
         pub const SERVICE_NAME: &str = {full:?};\n\n\
         impl<T: {trait_name}> __ferry::Service for {server_name}<T> {{\n\
         fn name(&self) -> &str {{\n    SERVICE_NAME\n}}\n\n\
         #[allow(deprecated)]\n\
         fn call(&self, call: __ferry::ServerCall) -> __ferry::BoxFuture<()> {{\n\
         let inner = self.inner.clone();\n\
         match call.method() {{"
    );
    for method in &service.methods {
        let shape = match (method.client_streaming, method.server_streaming) {
            (false, false) => "unary",
            (false, true) => "server_streaming",
            (true, false) => "client_streaming",
            (true, true) => "bidi_streaming",
        };
        let _ = writeln!(
            buf,
            "{proto:?} => __ferry::{shape}(call, move |request| async move {{ \
             inner.{name}(request).await }}),",
            proto = method.proto_name,
            name = method.name,
        );
    }
    buf.push_str("_ => __ferry::unknown_method(call),\n}\n}\n}\n}\n\n");
}

fn client(
    service: &Service,
    one_way: Option<&std::collections::HashSet<String>>,
    buf: &mut String,
) {
    let client_name = format!("{}Client", service.name);
    let module = format!("{}_client", service.name.to_snake_case());
    let full = full_name(service);

    let _ = writeln!(
        buf,
        "/// The client side of `{full}`: [`{module}::{client_name}`]."
    );
    let _ = writeln!(buf, "pub mod {module} {{");
    buf.push_str("use ::ferry::codegen as __ferry;\n\n");
    service_docs(service, buf);
    let _ = writeln!(
        buf,
        "/// Calls `{full}` over a [`ferry::Channel`]. Cheap to clone: clones share the \
         channel's connections. Each method takes a message (or a request stream) or a \
         [`ferry::Request`] carrying per-call options: timeout or deadline, metadata, \
         compression, wait-for-ready.\n\
         #[derive(Clone, Debug)]\n\
         pub struct {client_name} {{\n    channel: __ferry::Channel,\n}}\n\n\
         impl {client_name} {{\n\
         /// A client over `channel`.\n\
         pub fn new(channel: __ferry::Channel) -> Self {{\n    {client_name} {{ channel }}\n}}\n\n\
         /// Connects a new channel to `uri` (`http://host:port`, `https://..`, `unix:path`).\n\
         pub async fn connect(uri: &str) -> ::core::result::Result<Self, __ferry::Status> {{\n\
         ::core::result::Result::Ok(Self::new(__ferry::Channel::connect(uri).await?))\n}}\n\n\
         /// The channel this client calls through.\n\
         pub fn channel(&self) -> &__ferry::Channel {{\n    &self.channel\n}}\n\n\
         /// Gives the channel back.\n\
         pub fn into_channel(self) -> __ferry::Channel {{\n    self.channel\n}}"
    );
    for method in &service.methods {
        let input = type_path(&method.input_type);
        let output = type_path(&method.output_type);
        let path = format!("/{full}/{}", method.proto_name);
        let name = if CLIENT_RESERVED.contains(&method.name.as_str()) {
            format!("{}_rpc", method.name)
        } else {
            method.name.clone()
        };
        let reply = if method.server_streaming {
            format!("__ferry::Response<__ferry::Streaming<{output}>>")
        } else {
            format!("__ferry::Response<{output}>")
        };
        let shape = match (method.client_streaming, method.server_streaming) {
            (false, false) => "call_unary",
            (false, true) => "call_server_streaming",
            (true, false) => "call_client_streaming",
            (true, true) => "call_bidi_streaming",
        };
        buf.push('\n');
        docs(&method.comments, 1, buf);
        if name != method.name {
            let _ = writeln!(
                buf,
                "///\n/// Calls `{proto}` (named `{name}` here: `{plain}` is taken by the \
                 client's own method).",
                proto = method.proto_name,
                plain = method.name,
            );
        }
        buf.push_str(deprecated(method));
        if method.client_streaming {
            let _ = writeln!(
                buf,
                "pub async fn {name}(&self, request: impl __ferry::IntoStreamingRequest<{input}>) -> \
                 ::core::result::Result<{reply}, __ferry::Status> {{\n\
                 __ferry::{shape}(&self.channel, {path:?}, \
                 __ferry::IntoStreamingRequest::into_streaming_request(request)).await\n}}"
            );
        } else {
            let _ = writeln!(
                buf,
                "pub async fn {name}(&self, request: impl __ferry::IntoRequest<{input}>) -> \
                 ::core::result::Result<{reply}, __ferry::Status> {{\n\
                 __ferry::{shape}(&self.channel, {path:?}, __ferry::IntoRequest::into_request(request)).await\n}}"
            );
        }
        let unary = !method.client_streaming && !method.server_streaming;
        if unary && one_way.is_none_or(|marked| marked.contains(&path)) {
            let _ = writeln!(
                buf,
                "\n/// Calls `{proto}` one-way: returns once the request is sent, without \
                 waiting for the reply (which the server drops; over the native protocol it \
                 sends none).\n{deprecated}\
                 pub async fn {name}_one_way(&self, request: impl __ferry::IntoRequest<{input}>) -> \
                 ::core::result::Result<(), __ferry::Status> {{\n\
                 __ferry::call_one_way::<_, {output}>(&self.channel, {path:?}, \
                 __ferry::IntoRequest::into_request(request)).await\n}}",
                proto = method.proto_name,
                deprecated = deprecated(method),
            );
        }
    }
    buf.push_str("}\n}\n\n");
}
