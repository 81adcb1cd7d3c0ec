//! `weir.v1.OperatorService` over the server's registry.

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use super::proto::{self, operator_service_server::OperatorService};
use super::{Limits, convert};
use crate::server::Server;

pub(super) struct OperatorApi {
    pub(super) server: Arc<Server>,
    pub(super) limits: Limits,
}

#[tonic::async_trait]
impl OperatorService for OperatorApi {
    async fn push(&self, request: Request<Streaming<proto::PushRequest>>) -> Result<Response<proto::Operator>, Status> {
        let mut parts = request.into_inner();
        let (mut name, mut version, mut bytes) = (String::new(), String::new(), Vec::new());
        while let Some(part) = parts.message().await? {
            if name.is_empty() {
                (name, version) = (part.name, part.version);
            }
            if (bytes.len() + part.chunk.len()) as u64 > self.limits.max_operator {
                return Err(Status::resource_exhausted(format!(
                    "operator `{name}@{version}` is larger than this server's limit of {} bytes",
                    self.limits.max_operator
                )));
            }
            bytes.extend_from_slice(&part.chunk);
        }
        if name.is_empty() || version.is_empty() {
            return Err(Status::invalid_argument("the first PushRequest must carry `name` and `version`"));
        }
        let server = self.server.clone();
        let compile = tokio::task::spawn_blocking(move || {
            let engine = server.env().plugins().map_err(|e| Status::internal(e.to_string()))?;
            server.registry().push(&name, &version, &bytes, engine).map_err(Status::from)
        });
        let timeout = self.limits.compile_timeout;
        let op = tokio::time::timeout(timeout, compile)
            .await
            .map_err(|_| Status::deadline_exceeded(format!("compiling the component took longer than {timeout:?}")))?;
        Ok(Response::new(convert::operator(op.map_err(|e| Status::internal(e.to_string()))??)))
    }

    async fn list(
        &self,
        _: Request<proto::ListOperatorsRequest>,
    ) -> Result<Response<proto::ListOperatorsResponse>, Status> {
        let operators = self.server.registry().list().into_iter().map(convert::operator).collect();
        Ok(Response::new(proto::ListOperatorsResponse { operators }))
    }

    async fn describe(
        &self,
        request: Request<proto::DescribeOperatorRequest>,
    ) -> Result<Response<proto::Operator>, Status> {
        let op = self.server.registry().resolve(&request.into_inner().operator)?;
        Ok(Response::new(convert::operator(op)))
    }

    async fn delete(
        &self,
        request: Request<proto::DeleteOperatorRequest>,
    ) -> Result<Response<proto::Operator>, Status> {
        Ok(Response::new(convert::operator(self.server.delete_operator(&request.into_inner().operator)?)))
    }
}
