//! The generated servers and clients, over TCP on 127.0.0.1: every call
//! shape, default UNIMPLEMENTED bodies, keyword names, several services on
//! one server, imports across files, well-known types, per-call options.

use std::collections::HashMap;
use std::time::Duration;

use ferry::compression::Encoding;
use ferry::{Code, Outbound, Request, Response, ResponseStream, Server, Status, Streaming};
use ferry_codegen_tests::codegen::{common, inventory, orders, shapes};
use futures_util::StreamExt;
use prost::Message;
use shapes::item::{Detail, Kind, Payload};
use shapes::{Item, Self_, Summary};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

struct ShapesImpl;

/// Items the one-way `Log` method received.
static LOGGED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

impl shapes::shapes_server::Shapes for ShapesImpl {
    async fn unary(&self, request: Request<Item>) -> Result<Response<Item>, Status> {
        let tag = request
            .metadata()
            .get("x-tag")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let mut item = request.into_inner();
        item.name = item.name.to_uppercase();
        let mut response = Response::new(item);
        if let Some(tag) = tag {
            response.metadata_mut().insert("x-tag", &tag).unwrap();
        }
        Ok(response)
    }

    async fn server_stream(
        &self,
        request: Request<Item>,
    ) -> Result<Response<ResponseStream<Item>>, Status> {
        let item = request.into_inner();
        let count = item.counters.get("count").copied().unwrap_or(0);
        if count < 0 {
            return Err(Status::invalid_argument("count must not be negative"));
        }
        let copies = futures_util::stream::iter((0..count).map(move |i| {
            let mut copy = item.clone();
            copy.payload = Some(Payload::Number(i));
            Ok(copy)
        }));
        Ok(Response::new(ResponseStream::new(copies)))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<Item>>,
    ) -> Result<Response<Summary>, Status> {
        let mut items = request.into_inner();
        let mut summary = Summary::default();
        while let Some(item) = items.message().await? {
            summary.count += 1;
            // A name says whether its message arrived compressed.
            summary.names.push(if items.last_message_compressed() {
                format!("{} (compressed)", item.name)
            } else {
                item.name.clone()
            });
            summary.by_name.insert(item.name.clone(), item);
        }
        Ok(Response::new(summary))
    }

    async fn bidi(
        &self,
        request: Request<Streaming<Item>>,
    ) -> Result<Response<ResponseStream<Item>>, Status> {
        let (tx, replies) = ResponseStream::channel(4);
        let mut items = request.into_inner();
        tokio::spawn(async move {
            loop {
                let next = items.message().await;
                let done = !matches!(next, Ok(Some(_)));
                let reply = match next {
                    Ok(Some(mut item)) => {
                        item.kind = Kind::Large.into();
                        Ok(item)
                    }
                    Ok(None) => break,
                    Err(status) => Err(status),
                };
                if tx.send(reply).await.is_err() || done {
                    break;
                }
            }
        });
        Ok(Response::new(replies))
    }

    async fn r#match(&self, request: Request<Self_>) -> Result<Response<Self_>, Status> {
        Ok(Response::new(Self_ {
            yes: !request.into_inner().yes,
        }))
    }

    async fn connect(&self, request: Request<Item>) -> Result<Response<Item>, Status> {
        let mut item = request.into_inner();
        item.r#type = "connected".into();
        Ok(Response::new(item))
    }

    async fn old(&self, request: Request<Item>) -> Result<Response<Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn log(&self, request: Request<Item>) -> Result<Response<Item>, Status> {
        let item = request.into_inner();
        LOGGED.lock().unwrap().push(item.name.clone());
        Ok(Response::new(item))
    }
}

struct OtherImpl;

impl shapes::other_server::Other for OtherImpl {
    async fn ping(&self, _request: Request<Self_>) -> Result<Response<Self_>, Status> {
        Ok(Response::new(Self_ { yes: true }))
    }
}

struct InventoryImpl;

impl inventory::inventory_server::Inventory for InventoryImpl {
    async fn lookup(
        &self,
        request: Request<common::Sku>,
    ) -> Result<Response<inventory::Stock>, Status> {
        Ok(Response::new(stock(request.into_inner(), 7)))
    }
}

fn stock(sku: common::Sku, count: u32) -> inventory::Stock {
    inventory::Stock {
        sku: Some(sku),
        count,
    }
}

struct OrdersImpl;

impl orders::orders_server::Orders for OrdersImpl {
    async fn place(
        &self,
        request: Request<orders::Order>,
    ) -> Result<Response<prost_types::Timestamp>, Status> {
        let order = request.into_inner();
        let ttl = order.ttl.map(|d| d.seconds).unwrap_or_default();
        Ok(Response::new(prost_types::Timestamp {
            seconds: 1_700_000_000 + ttl + order.skus.len() as i64,
            nanos: 0,
        }))
    }

    async fn check(
        &self,
        request: Request<common::Sku>,
    ) -> Result<Response<inventory::Stock>, Status> {
        Ok(Response::new(stock(request.into_inner(), 3)))
    }

    async fn clear(&self, _request: Request<()>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }

    async fn watch(
        &self,
        _request: Request<()>,
    ) -> Result<Response<ResponseStream<inventory::Stock>>, Status> {
        let sku = |code: &str| common::Sku {
            code: code.into(),
            created: None,
        };
        let all = vec![Ok(stock(sku("a"), 1)), Ok(stock(sku("b"), 2))];
        Ok(Response::new(ResponseStream::new(
            futures_util::stream::iter(all),
        )))
    }
}

/// A server with every generated service, stopped on drop of the sender.
async fn serve() -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .add_service(shapes::shapes_server::ShapesServer::new(ShapesImpl))
        .add_service(shapes::other_server::OtherServer::new(OtherImpl))
        .add_service(inventory::inventory_server::InventoryServer::new(
            InventoryImpl,
        ))
        .add_service(orders::orders_server::OrdersServer::new(OrdersImpl))
        .build();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve_with_shutdown(listener, async {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), stop)
}

fn item(name: &str) -> Item {
    Item {
        name: name.into(),
        kind: Kind::Small.into(),
        detail: Some(Detail {
            note: "n".into(),
            values: vec![1, 2, 3],
        }),
        payload: Some(Payload::Nested(Detail {
            note: "inner".into(),
            values: vec![4],
        })),
        counters: HashMap::from([("a".to_owned(), 1)]),
        r#type: "t".into(),
        blob: prost::bytes::Bytes::from_static(b"shared blob"),
        raw: b"owned raw".to_vec(),
    }
}

#[tokio::test]
async fn bytes_fields_are_bytes_where_the_build_asks() {
    let (uri, _stop) = serve().await;
    let client = shapes::shapes_client::ShapesClient::connect(&uri)
        .await
        .unwrap();
    let reply = client.unary(item("blobs")).await.unwrap().into_inner();
    // The types are the point: `blob` was asked for as Bytes, `raw` not.
    let blob: prost::bytes::Bytes = reply.blob;
    let raw: Vec<u8> = reply.raw;
    assert_eq!(&blob[..], b"shared blob");
    assert_eq!(raw, b"owned raw");
}

#[tokio::test]
async fn unary_with_options_and_metadata() {
    let (uri, _stop) = serve().await;
    let client = shapes::shapes_client::ShapesClient::connect(&uri)
        .await
        .unwrap();

    let reply = client.unary(item("ferry")).await.unwrap().into_inner();
    let mut expected = item("FERRY");
    expected.name = "FERRY".into();
    assert_eq!(reply, expected);

    let mut request = Request::new(item("tagged")).with_timeout(Duration::from_secs(10));
    request.metadata_mut().insert("x-tag", "seven").unwrap();
    let response = client.unary(request).await.unwrap();
    assert_eq!(
        response.metadata().get("x-tag").and_then(|v| v.as_str()),
        Some("seven")
    );
    assert_eq!(response.into_inner().name, "TAGGED");
}

#[tokio::test]
async fn server_streaming_with_oneof_and_maps() {
    let (uri, _stop) = serve().await;
    let client = shapes::shapes_client::ShapesClient::connect(&uri)
        .await
        .unwrap();
    let mut request = item("s");
    request.counters.insert("count".into(), 5);
    let mut stream = client.server_stream(request).await.unwrap().into_inner();
    let mut numbers = Vec::new();
    while let Some(copy) = stream.message().await.unwrap() {
        assert_eq!(copy.counters.get("a"), Some(&1));
        match copy.payload {
            Some(Payload::Number(n)) => numbers.push(n),
            other => panic!("unexpected payload {other:?}"),
        }
    }
    assert_eq!(numbers, vec![0, 1, 2, 3, 4]);

    let mut negative = item("s");
    negative.counters.insert("count".into(), -1);
    let status = client.server_stream(negative).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn client_streaming_from_a_stream_or_a_request() {
    let (uri, _stop) = serve().await;
    let client = shapes::shapes_client::ShapesClient::connect(&uri)
        .await
        .unwrap();
    let items = futures_util::stream::iter(["a", "b", "c"].map(item));
    let summary = client.client_stream(items).await.unwrap().into_inner();
    assert_eq!(summary.count, 3);
    assert_eq!(summary.names, vec!["a", "b", "c"]);
    assert_eq!(summary.by_name.get("b"), Some(&item("b")));

    let items = futures_util::stream::iter(Vec::<Item>::new());
    let request = Request::new(items).with_timeout(Duration::from_secs(10));
    let summary = client.client_stream(request).await.unwrap().into_inner();
    assert_eq!(summary, Summary::default());
}

#[tokio::test]
async fn client_streaming_chooses_compression_per_message() {
    let (uri, _stop) = serve().await;
    let client = shapes::shapes_client::ShapesClient::connect(&uri)
        .await
        .unwrap();
    // Long enough to be worth compressing; the second opts out.
    let long = |c: &str| item(&c.repeat(500));
    let items = futures_util::stream::iter([
        Outbound::new(long("a")),
        Outbound::uncompressed(long("b")),
        Outbound::new(long("c")),
    ]);
    let request = Request::new(items).with_compression(Encoding::Gzip);
    let summary = client.client_stream(request).await.unwrap().into_inner();
    let names: Vec<String> = summary
        .names
        .iter()
        .map(|n| {
            n.replace(&"a".repeat(500), "a")
                .replace(&"b".repeat(500), "b")
                .replace(&"c".repeat(500), "c")
        })
        .collect();
    assert_eq!(names, ["a (compressed)", "b", "c (compressed)"]);
}

#[tokio::test]
async fn bidi_replies_interleave_with_requests() {
    let (uri, _stop) = serve().await;
    let client = shapes::shapes_client::ShapesClient::connect(&uri)
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<Item>(1);
    let requests = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut replies = client.bidi(requests).await.unwrap().into_inner();
    for name in ["one", "two", "three"] {
        // Each reply arrives before the next request is sent.
        tx.send(item(name)).await.unwrap();
        let reply = replies.message().await.unwrap().unwrap();
        assert_eq!(reply.name, name);
        assert_eq!(reply.kind(), Kind::Large);
    }
    drop(tx);
    assert_eq!(replies.message().await.unwrap(), None);
}

#[tokio::test]
async fn default_bodies_answer_unimplemented() {
    let (uri, _stop) = serve().await;
    let client = shapes::shapes_client::ShapesClient::connect(&uri)
        .await
        .unwrap();
    let status = client.unimplemented(item("x")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("Unimplemented")
            && status.message().contains("codegen.shapes.Shapes"),
        "{}",
        status.message()
    );
}

#[tokio::test]
#[allow(deprecated)]
async fn keyword_and_clashing_names() {
    let (uri, _stop) = serve().await;
    let client = shapes::shapes_client::ShapesClient::connect(&uri)
        .await
        .unwrap();
    let reply = client.r#match(Self_ { yes: false }).await.unwrap();
    assert!(reply.into_inner().yes);
    let reply = client.connect_rpc(item("c")).await.unwrap().into_inner();
    assert_eq!(reply.r#type, "connected");
    let reply = client.old(item("o")).await.unwrap().into_inner();
    assert_eq!(reply, item("o"));

    let other = shapes::other_client::OtherClient::new(client.into_channel());
    assert!(
        other
            .ping(Self_ { yes: false })
            .await
            .unwrap()
            .into_inner()
            .yes
    );
}

#[tokio::test]
async fn services_across_files_and_well_known_types() {
    let (uri, _stop) = serve().await;
    let channel = ferry::Channel::connect(&uri).await.unwrap();
    let sku = common::Sku {
        code: "x1".into(),
        created: Some(prost_types::Timestamp {
            seconds: 5,
            nanos: 6,
        }),
    };
    let inventory = inventory::inventory_client::InventoryClient::new(channel.clone());
    let stock = inventory.lookup(sku.clone()).await.unwrap().into_inner();
    assert_eq!(stock.sku.as_ref(), Some(&sku));
    assert_eq!(stock.count, 7);

    let orders = orders::orders_client::OrdersClient::new(channel);
    let order = orders::Order {
        skus: vec![sku.clone(), sku.clone()],
        note: Some("gift".to_owned()),
        ttl: Some(prost_types::Duration {
            seconds: 60,
            nanos: 0,
        }),
        extra: Some(prost_types::Struct {
            fields: [(
                "k".to_owned(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::BoolValue(true)),
                },
            )]
            .into(),
        }),
        attachment: Some(prost_types::Any {
            type_url: "type.googleapis.com/codegen.common.Sku".into(),
            value: sku.encode_to_vec(),
        }),
    };
    let placed = orders.place(order).await.unwrap().into_inner();
    assert_eq!(placed.seconds, 1_700_000_000 + 60 + 2);
    assert_eq!(orders.check(sku).await.unwrap().into_inner().count, 3);
    orders.clear(()).await.unwrap();
    let watched: Vec<u32> = orders
        .watch(())
        .await
        .unwrap()
        .into_inner()
        .map(|stock| stock.unwrap().count)
        .collect()
        .await;
    assert_eq!(watched, vec![1, 2]);
}

#[tokio::test]
async fn the_deadline_option_reaches_the_server() {
    struct Slow;
    impl inventory::inventory_server::Inventory for Slow {
        async fn lookup(
            &self,
            request: Request<common::Sku>,
        ) -> Result<Response<inventory::Stock>, Status> {
            assert!(
                request.deadline().is_some(),
                "the handler sees the deadline"
            );
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Response::new(inventory::Stock::default()))
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .add_service(inventory::inventory_server::InventoryServer::new(Slow))
        .build();
    tokio::spawn(server.serve_with_shutdown(listener, std::future::pending()));
    let client = inventory::inventory_client::InventoryClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    let request = Request::new(common::Sku::default()).with_timeout(Duration::from_millis(200));
    let status = client.lookup(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
}

#[test]
fn descriptors_carry_imports_and_source_info() {
    let set = prost_types::FileDescriptorSet::decode(ferry_codegen_tests::DESCRIPTORS).unwrap();
    let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
    for expected in [
        "codegen/shapes.proto",
        "codegen/common.proto",
        "codegen/inventory.proto",
        "codegen/orders.proto",
        "google/protobuf/timestamp.proto",
        "google/protobuf/wrappers.proto",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let shapes = set
        .file
        .iter()
        .find(|f| f.name() == "codegen/shapes.proto")
        .unwrap();
    assert!(shapes.source_code_info.is_some());
    assert_eq!(shapes.service.len(), 2);
}

#[test]
fn proto_comments_become_rustdoc() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/codegen.shapes.rs"));
    for doc in [
        "/// The four call shapes.",
        "/// Unary: echoes the item back with its name upper-cased.",
        "/// Server streaming: `count` copies of the item.",
    ] {
        assert!(generated.contains(doc), "missing {doc}");
    }
    let inventory = include_str!(concat!(env!("OUT_DIR"), "/codegen.inventory.rs"));
    assert!(inventory.contains("/// Answers how many of a SKU are in stock."));
}

#[tokio::test]
async fn one_way_methods_return_before_the_reply() {
    let (uri, _stop) = serve().await;
    let client = shapes::shapes_client::ShapesClient::connect(&uri)
        .await
        .unwrap();
    // Returns `()` once the request is sent.
    client.log_one_way(item("fire")).await.unwrap();
    for _ in 0..500 {
        if LOGGED.lock().unwrap().contains(&"fire".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(LOGGED.lock().unwrap().contains(&"fire".to_owned()));
    // The ordinary method is there too; unmarked methods have no one-way form.
    assert_eq!(client.log(item("x")).await.unwrap().into_inner().name, "x");
    let generated = include_str!(concat!(env!("OUT_DIR"), "/codegen.shapes.rs"));
    assert!(generated.contains("fn log_one_way("));
    assert!(!generated.contains("fn unary_one_way("));
}
