"""A gRPC reflection client that is not ours (Python grpcio-reflection).

Usage: reflection_client.py HOST:PORT SERVICE/METHOD

Lists every service the server advertises through reflection and describes
one method (its request and response types and their fields), printing JSON.
This is what `grpcurl list` and `grpcurl describe` do.
"""

import json
import sys

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def fields(message):
    return [
        {"name": f.name, "number": f.number, "type": f.type, "message_type": f.message_type.full_name if f.message_type else None}
        for f in message.fields
    ]


def main():
    addr, symbol = sys.argv[1], sys.argv[2]
    service_name, method_name = symbol.split("/")
    with grpc.insecure_channel(addr) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(db.get_services())
        pool = DescriptorPool(db)
        service = pool.FindServiceByName(service_name)
        method = service.methods_by_name[method_name]
        out = {
            "services": services,
            "service_methods": sorted(m.name for m in service.methods),
            "method": {
                "full_name": method.full_name,
                "input": method.input_type.full_name,
                "output": method.output_type.full_name,
                "server_streaming": method.server_streaming if hasattr(method, "server_streaming") else None,
                "output_fields": fields(method.output_type),
            },
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
