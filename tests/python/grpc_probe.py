"""A gRPC client that is not Weir's own (Python grpcio) against `weir serve`: the standard health check
without a token, server reflection with and without one, and a malformed protobuf message. Prints one
JSON object; tests/tests/serve_refusals.rs checks it.

    python3 tests/python/grpc_probe.py 127.0.0.1:PORT TOKEN
"""
import json
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def health(channel):
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def services(channel, metadata):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    try:
        replies = stub.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=5)
        return sorted(s.name for r in replies for s in r.list_services_response.service)
    except grpc.RpcError as e:
        return e.code().name


def malformed(channel, token):
    call = channel.unary_unary("/weir.v1.JobService/Submit", request_serializer=None, response_deserializer=None)
    try:
        call(b"\x0a\xff\xff\xff\xff\x0f", metadata=[("authorization", "Bearer " + token)], timeout=5)
        return {"code": "OK"}
    except grpc.RpcError as e:
        return {"code": e.code().name, "details": e.details()}


def main():
    address, token = sys.argv[1], sys.argv[2]
    with grpc.insecure_channel(address) as channel:
        out = {
            "health": health(channel),
            "reflection_without_token": services(channel, []),
            "reflection": services(channel, [("authorization", "Bearer " + token)]),
            "malformed": malformed(channel, token),
            "health_after": health(channel),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
