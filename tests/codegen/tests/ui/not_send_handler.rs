// Handlers run on a multi-threaded runtime: their futures must be Send.
use std::rc::Rc;

use ferry::{Request, Response, Status};
use ferry_codegen_tests::codegen::shapes::{Item, shapes_server::Shapes};

struct NotSend;

impl Shapes for NotSend {
    async fn unary(&self, request: Request<Item>) -> Result<Response<Item>, Status> {
        let held = Rc::new(1);
        tokio::task::yield_now().await;
        let _ = held;
        Ok(Response::new(request.into_inner()))
    }
}

fn main() {}
