// A server-streaming handler returns a stream of replies, not one reply.
use ferry::{Request, Response, Status};
use ferry_codegen_tests::codegen::shapes::{Item, shapes_server::Shapes};

struct Wrong;

impl Shapes for Wrong {
    async fn server_stream(&self, request: Request<Item>) -> Result<Response<Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }
}

fn main() {}
