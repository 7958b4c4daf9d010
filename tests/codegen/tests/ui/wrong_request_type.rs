// A client method takes the method's input message, nothing else.
use ferry_codegen_tests::codegen::shapes::{Summary, shapes_client::ShapesClient};

async fn call(client: ShapesClient) {
    let _ = client.unary(Summary::default()).await;
}

fn main() {
    let _ = call;
}
