//! `weir op push|list|describe|delete` against a server's registry.

use std::path::Path;

use serde_json::json;

use super::{Conn, Failure, Output, operators, runtime, table};
use weir::rpc::proto;

/// Chunks of a pushed component: well under the server's message limit.
const CHUNK: usize = 1 << 20;

fn op_json(o: &proto::Operator) -> serde_json::Value {
    json!({
        "name": o.name, "version": o.version, "digest": o.digest, "size": o.size, "world": o.world,
        "kind": o.kind, "params": o.params, "describes_as": o.describes_as, "pushed_at_ms": o.pushed_at_ms,
    })
}

fn print_ops(ops: &[proto::Operator], output: Output) {
    match output {
        Output::Json => println!("{}", serde_json::Value::Array(ops.iter().map(op_json).collect())),
        Output::Table => {
            let mut t = table(&["NAME", "VERSION", "WORLD", "KIND", "PARAMS", "SIZE", "DIGEST"]);
            for o in ops {
                t.add_row(vec![
                    o.name.clone(),
                    o.version.clone(),
                    o.world.clone(),
                    o.kind.clone(),
                    o.params.join(","),
                    bytesize::ByteSize(o.size).to_string(),
                    o.digest[..12.min(o.digest.len())].to_string(),
                ]);
            }
            println!("{t}");
        }
    }
}

/// Uploads `file` as `name@version` (by default, the name and version the component gives itself).
pub fn push(conn: &Conn, file: &Path, name_version: Option<&str>, output: Output) -> Result<(), Failure> {
    let bytes = std::fs::read(file).map_err(|e| Failure::new(2, format!("cannot read {}: {e}", file.display())))?;
    let (name, version) = match name_version {
        Some(nv) => nv
            .split_once('@')
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .ok_or_else(|| Failure::new(2, format!("--as `{nv}`: write name@version")))?,
        None => {
            let engine = weir::operator::wasm::PluginEngine::new().map_err(|e| Failure::new(1, e.to_string()))?;
            let d = engine.describe(file).map_err(|e| Failure::new(2, e.to_string()))?;
            (d.name, d.version)
        }
    };
    runtime()?.block_on(async {
        let mut client = operators(conn).await?;
        let mut parts: Vec<proto::PushRequest> =
            bytes.chunks(CHUNK).map(|c| proto::PushRequest { chunk: c.to_vec(), ..Default::default() }).collect();
        if parts.is_empty() {
            parts.push(proto::PushRequest::default());
        }
        (parts[0].name, parts[0].version) = (name, version);
        let op = client.push(tokio_stream::iter(parts)).await?.into_inner();
        match output {
            Output::Json => println!("{}", op_json(&op)),
            Output::Table => println!("pushed {}@{} (sha256:{})", op.name, op.version, op.digest),
        }
        Ok(())
    })
}

/// Lists the registry.
pub fn list(conn: &Conn, output: Output) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let ops = operators(conn).await?.list(proto::ListOperatorsRequest {}).await?.into_inner().operators;
        print_ops(&ops, output);
        Ok(())
    })
}

/// Describes one registry operator.
pub fn describe(conn: &Conn, operator: &str, output: Output) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let req = proto::DescribeOperatorRequest { operator: operator.to_string() };
        let op = operators(conn).await?.describe(req).await?.into_inner();
        match output {
            Output::Json => println!("{}", op_json(&op)),
            Output::Table => println!(
                "name: {}\nversion: {}\nworld: {}\nkind: {}\nparams: [{}]\nsize: {}\nsha256: {}\ndescribes itself as: {}",
                op.name,
                op.version,
                op.world,
                op.kind,
                op.params.join(", "),
                op.size,
                op.digest,
                op.describes_as
            ),
        }
        Ok(())
    })
}

/// Deletes one registry operator.
pub fn delete(conn: &Conn, operator: &str) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let req = proto::DeleteOperatorRequest { operator: operator.to_string() };
        let op = operators(conn).await?.delete(req).await?.into_inner();
        println!("deleted {}@{}", op.name, op.version);
        Ok(())
    })
}
