// A client-streaming method takes a stream of requests, not one request.
use ferry_codegen_tests::codegen::shapes::{Item, shapes_client::ShapesClient};

async fn call(client: ShapesClient) {
    let _ = client.client_stream(Item::default()).await;
}

fn main() {
    let _ = call;
}
