// A grpc-web client that is not ours: @connectrpc/connect-web's grpc-web
// transport on Node's fetch (HTTP/1.1), with the service built at run time
// from Scout's descriptor set.
//
// Usage: node grpc-web-client.mjs BASE_URL DESCRIPTOR_SET_FILE SERVICE METHOD [JSON_REQUEST]
// With SCOUT_ACCESS_TOKEN set, the call carries `authorization: Bearer <token>`.
// Prints {"ok": true, "response": {...}} or {"ok": false, "code": ..., "message": ...}.

import { readFileSync } from "node:fs";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { createFileRegistry, fromBinary, fromJson, toJson } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

const [baseUrl, descriptorFile, serviceName, methodName, requestJson] = process.argv.slice(2);
const set = fromBinary(FileDescriptorSetSchema, readFileSync(descriptorFile));
const registry = createFileRegistry(set);
const service = registry.getService(serviceName);
if (!service) {
  console.log(JSON.stringify({ ok: false, message: `no service ${serviceName} in the descriptor set` }));
  process.exit(2);
}
const method = service.methods.find((m) => m.name === methodName);
const transport = createGrpcWebTransport({ baseUrl, useBinaryFormat: true });
const client = createClient(service, transport);
const request = fromJson(method.input, JSON.parse(requestJson ?? "{}"), { registry });

try {
  const token = process.env.SCOUT_ACCESS_TOKEN;
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const response = await client[method.localName](request, { timeoutMs: 10000, headers });
  console.log(JSON.stringify({ ok: true, response: toJson(method.output, response, { registry, useProtoFieldName: true }) }));
} catch (e) {
  const err = ConnectError.from(e);
  console.log(JSON.stringify({ ok: false, code: Code[err.code], message: err.rawMessage }));
}
