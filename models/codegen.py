#!/usr/bin/env python3
"""Generates a service's typed model shapes and operation trait from its vendored model.

    python3 models/codegen.py lambda services/lambda/src/shapes.rs [--trait LambdaApi]
    python3 models/codegen.py --all          # every service listed in SERVICES below

The output is committed (reviewable, and compile errors point at real files). It holds, for one service:
- a Rust struct per structure shape (member names in snake case, required members unwrapped, optional
  ones in `Option`, lists as `Vec`, maps as `BTreeMap<String, _>`, documents as `serde_json::Value`,
  blobs as `Bytes`, timestamps as `skyport_wire::Timestamp`; enums stay `String` and are checked by the
  wire layer's validation), with conversions from and into the canonical `skyport_wire::Value`;
- a function per error shape building the `ApiError` of that shape;
- an `#[async_trait]` trait with one required method per operation the service implements, and
  `dispatch`, which converts a validated input, calls the method, and converts its output back; the
  model's other operations answer `NotImplemented` without a conversion.

Which operations a service implements is read from its `OPERATIONS` list (`pub const OPERATIONS: &[&str]`
in the service's `src/api.rs`, or the `mod.rs` beside the generated file), the same list the wire layer checks before validating. The compiler keeps
the two honest: a listed operation without its trait method, or a method for an unlisted one, does not
build. Only the structures those operations reach (and the error shapes) are generated, so the model's
other shapes cost neither compile time nor image bytes. Add an operation: list it, run this script, write
its method.
"""
import json
import keyword
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# service model -> (output file, trait name)
SERVICES = {
    "sts": ("services/sts/src/shapes.rs", "StsApi"),
    "lambda": ("services/lambda/src/shapes.rs", "LambdaApi"),
    "logs": ("services/logs/src/shapes.rs", "LogsApi"),
    "iam": ("services/iam/src/shapes.rs", "IamApi"),
    "dynamodb": ("services/dynamodb/src/shapes.rs", "DynamoDbApi"),
    "dynamodbstreams": ("services/dynamodb/src/streams/shapes.rs", "DynamoDbStreamsApi"),
    "events": ("services/events/src/shapes.rs", "EventsApi"),
    "sns": ("services/sns/src/shapes.rs", "SnsApi"),
    "ecr": ("services/ecr/src/shapes.rs", "EcrApi"),
}

RUST_KEYWORDS = {
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if", "impl",
    "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self", "static",
    "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual",
    "yield", "try", "gen",
}
RESERVED_TYPES = {"Option", "Result", "Vec", "Box", "String", "Value", "Bytes", "Timestamp", "Fields",
                  "Builder", "ApiError", "BTreeMap", "Self", "RequestContext", "Operation", "Struct"}


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = s.replace("-", "_").replace(".", "_").lower()
    if s in RUST_KEYWORDS or s in ("self", "super", "crate"):
        return s + "_"
    return s


def type_name(name):
    name = name[0].upper() + name[1:]
    return name + "Shape" if name in RESERVED_TYPES else name


class Gen:
    def __init__(self, model, trait, implemented):
        self.model = model
        self.shapes = model["shapes"]
        self.trait = trait
        self.implemented = implemented
        self.out = []

    def reachable(self):
        """The shapes the implemented operations' inputs and outputs reach, and every error shape."""
        seen = set()
        todo = []
        for op_name in self.implemented:
            op = self.model["operations"][op_name]
            todo += [op[k]["shape"] for k in ("input", "output") if k in op]
        todo += [n for n, sh in self.shapes.items() if sh.get("exception")]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            shape = self.shapes[name]
            if shape["type"] == "structure":
                todo += [m["shape"] for m in shape.get("members", {}).values()]
            elif shape["type"] == "list":
                todo.append(shape["member"]["shape"])
            elif shape["type"] == "map":
                todo += [shape["key"]["shape"], shape["value"]["shape"]]
        return seen

    def rust_type(self, shape_name):
        shape = self.shapes[shape_name]
        t = shape["type"]
        if t == "structure":
            if shape.get("document"):
                return "serde_json::Value"
            return type_name(shape_name)
        if t == "list":
            return f"Vec<{self.rust_type(shape['member']['shape'])}>"
        if t == "map":
            return f"BTreeMap<String, {self.rust_type(shape['value']['shape'])}>"
        if t == "string":
            return "serde_json::Value" if shape.get("jsonvalue") else "String"
        return {
            "integer": "i32",
            "long": "i64",
            "boolean": "bool",
            "float": "f32",
            "double": "f64",
            "timestamp": "Timestamp",
            "blob": "Bytes",
        }[t]

    def reaches(self, start, goal, seen=None):
        """Whether structure `start` contains `goal` directly (through structure members only)."""
        if start == goal:
            return True
        seen = seen or set()
        if start in seen:
            return False
        seen.add(start)
        shape = self.shapes[start]
        if shape["type"] != "structure" or shape.get("document"):
            return False
        for member in shape.get("members", {}).values():
            target = member["shape"]
            if self.shapes[target]["type"] == "structure" and self.reaches(target, goal, seen):
                return True
        return False

    def emit(self, line=""):
        self.out.append(line)

    def structure(self, name, shape):
        members = shape.get("members", {})
        required = set(shape.get("required", []))
        rust = type_name(name)
        fields = []
        used = set()
        for member_name, member in members.items():
            field = snake(member_name)
            while field in used:
                field += "_"
            used.add(field)
            target = member["shape"]
            ty = self.rust_type(target)
            target_shape = self.shapes[target]
            if target_shape["type"] == "structure" and not target_shape.get("document") and self.reaches(target, name):
                ty = f"Box<{ty}>"
            is_required = member_name in required
            fields.append((member_name, field, ty, is_required))
        kind = "union" if shape.get("union") else ("error" if shape.get("exception") else "structure")
        self.emit(f"/// The `{name}` {kind}.")
        self.emit("#[derive(Debug, Clone, Default, PartialEq)]")
        self.emit(f"pub struct {rust} {{")
        for member_name, field, ty, is_required in fields:
            self.emit(f"    /// `{member_name}`{' (required)' if is_required else ''}.")
            self.emit(f"    pub {field}: {ty if is_required else f'Option<{ty}>'},")
        self.emit("}")
        self.emit()
        self.emit(f"impl FromValue for {rust} {{")
        if fields:
            self.emit("    fn from_value(value: Value) -> Result<Self, ConvertError> {")
            self.emit("        let mut f = Fields::new(value)?;")
            self.emit("        Ok(Self {")
            for member_name, field, ty, is_required in fields:
                getter = "required" if is_required else "optional"
                self.emit(f"            {field}: f.{getter}(\"{member_name}\")?,")
            self.emit("        })")
        else:
            self.emit("    fn from_value(value: Value) -> Result<Self, ConvertError> {")
            self.emit("        Fields::new(value)?;")
            self.emit("        Ok(Self {})")
        self.emit("    }")
        self.emit("}")
        self.emit()
        self.emit(f"impl IntoValue for {rust} {{")
        self.emit("    fn into_value(self) -> Value {")
        if fields:
            self.emit(f"        let mut b = Builder::new({len(fields)});")
            for member_name, field, ty, is_required in fields:
                setter = "set" if is_required else "opt"
                self.emit(f"        b.{setter}(\"{member_name}\", self.{field});")
            self.emit("        b.build()")
        else:
            self.emit("        Builder::new(0).build()")
        self.emit("    }")
        self.emit("}")
        self.emit()

    def generate(self, source):
        self.emit(f"//! {self.model['metadata'].get('serviceId', '')} model shapes and operations, generated by")
        self.emit(f"//! `models/codegen.py` from `{source}` (botocore {open(os.path.join(HERE, 'BOTOCORE_VERSION')).read().strip()}).")
        self.emit("//! Do not edit: change the generator or the model and regenerate.")
        self.emit("#![allow(clippy::all, unused_imports, dead_code)]")
        self.emit()
        self.emit("use std::collections::BTreeMap;")
        self.emit()
        self.emit("use bytes::Bytes;")
        self.emit("use skyport_core::RequestContext;")
        self.emit("use skyport_wire::{ApiError, Builder, ConvertError, Fields, FromValue, IntoValue, Operation, Timestamp, Value};")
        self.emit()
        reachable = self.reachable()
        for name, shape in self.shapes.items():
            if shape["type"] == "structure" and not shape.get("document") and name in reachable:
                self.structure(name, shape)
        self.emit("/// The model's errors, one constructor per error shape.")
        self.emit("pub mod errors {")
        self.emit("    use skyport_wire::ApiError;")
        for name, shape in self.shapes.items():
            if shape["type"] == "structure" and shape.get("exception"):
                self.emit()
                self.emit(f"    /// A `{name}`.")
                self.emit(f"    pub fn {snake(name)}(message: impl Into<String>) -> ApiError {{")
                self.emit(f"        ApiError::new(\"{name}\", message)")
                self.emit("    }")
        self.emit("}")
        self.emit()
        ops = self.model["operations"]
        self.emit("/// The operations the service implements (its `OPERATIONS` list); the model's others answer")
        self.emit("/// `NotImplemented` from `dispatch`.")
        self.emit("#[async_trait::async_trait]")
        self.emit(f"pub trait {self.trait}: Send + Sync + 'static {{")
        for op_name, op in ops.items():
            if op_name not in self.implemented:
                continue
            method = snake(op_name)
            args = "&self, ctx: &mut RequestContext"
            if "input" in op:
                args += f", input: {type_name(op['input']['shape'])}"
            out = type_name(op["output"]["shape"]) if "output" in op else "()"
            self.emit(f"    /// `{op_name}`.")
            self.emit(f"    async fn {method}({args}) -> Result<{out}, ApiError>;")
        self.emit("}")
        self.emit()
        self.emit("/// Converts a validated input, calls the operation, converts its output.")
        self.emit(f"pub async fn dispatch<A: {self.trait} + ?Sized>(")
        self.emit("    api: &A,")
        self.emit("    ctx: &mut RequestContext,")
        self.emit("    operation: &Operation,")
        self.emit("    input: Value,")
        self.emit(") -> Result<Value, ApiError> {")
        self.emit("    match operation.name.as_str() {")
        for op_name, op in ops.items():
            if op_name not in self.implemented:
                continue
            method = snake(op_name)
            call_args = "ctx"
            if "input" in op:
                call_args += f", {type_name(op['input']['shape'])}::from_value(input)?"
            if "output" in op:
                self.emit(f"        \"{op_name}\" => Ok(api.{method}({call_args}).await?.into_value()),")
            else:
                self.emit(f"        \"{op_name}\" => {{")
                self.emit(f"            api.{method}({call_args}).await?;")
                self.emit("            Ok(Builder::new(0).build())")
                self.emit("        }")
        self.emit("        other => Err(ApiError::not_implemented(other)),")
        self.emit("    }")
        self.emit("}")
        return "\n".join(self.out) + "\n"


def implemented_operations(service, target, model):
    """The service's `OPERATIONS` list, read from `api.rs` (or `mod.rs`) beside the generated file."""
    here = os.path.join(ROOT, os.path.dirname(target))
    api = next((os.path.join(here, f) for f in ("api.rs", "mod.rs") if os.path.exists(os.path.join(here, f))),
               os.path.join(here, "api.rs"))
    text = open(api).read()
    found = re.search(r"const OPERATIONS: &\[&str\] = &\[(.*?)\];", text, re.S)
    if not found:
        sys.exit(f"{service}: no `const OPERATIONS: &[&str]` in {api}")
    names = re.findall(r'"([A-Za-z0-9]+)"', found.group(1))
    unknown = [n for n in names if n not in model["operations"]]
    if unknown:
        sys.exit(f"{service}: {api} lists operations the model does not have: {', '.join(unknown)}")
    return set(names)


def generate(service, target, trait):
    source = f"models/{service}.json"
    model = json.load(open(os.path.join(ROOT, source)))
    text = Gen(model, trait, implemented_operations(service, target, model)).generate(source)
    path = os.path.join(ROOT, target)
    with open(path, "w") as f:
        f.write(text)
    subprocess.run(["rustfmt", "--edition", "2024", path], check=True)
    print(f"{service}: {path} ({text.count(chr(10))} lines)")


def main():
    if sys.argv[1:] == ["--all"]:
        for service, (target, trait) in SERVICES.items():
            generate(service, target, trait)
        return
    service, target = sys.argv[1], sys.argv[2]
    trait = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--trait" else f"{service.capitalize()}Api"
    generate(service, target, trait)


if __name__ == "__main__":
    main()
