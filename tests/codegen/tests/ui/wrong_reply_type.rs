// A unary handler must reply with the method's output message.
use ferry::{Request, Response, Status};
use ferry_codegen_tests::codegen::shapes::{Item, Summary, shapes_server::Shapes};

struct Wrong;

impl Shapes for Wrong {
    async fn unary(&self, _request: Request<Item>) -> Result<Response<Summary>, Status> {
        Ok(Response::new(Summary::default()))
    }
}

fn main() {}
