//! The OpenAPI document as clients and SDK generators get it, and the
//! methods of each path for the `Allow` header of a 405.
//!
//! poem-openapi renders the document from the operations; two things in its
//! rendering say less than the server does, and are corrected here, in one
//! place, for the served `/openapi.json` and `api openapi` alike:
//! - a documented field of a named type (an enum, an object) comes out as
//!   `allOf: [{$ref}, {description, nullable…}]` with the same keywords
//!   beside `allOf`; generators read the second member as an object to
//!   merge and give up on the whole schema (openapi-python-client drops
//!   it, and every operation that uses it). The copy inside `allOf` goes.
//! - every request body object refuses unknown fields (a 400; each derives
//!   `deny_unknown_fields`), which poem-openapi does not render: the
//!   document says `additionalProperties: false` for them.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Keywords that annotate a schema without constraining its type: what
/// poem-openapi puts in the second member of a field's `allOf`.
const ANNOTATIONS: &[&str] =
    &["description", "title", "nullable", "default", "example", "readOnly", "writeOnly", "deprecated"];

/// The document poem-openapi rendered (`raw`), corrected as the module
/// doc says, pretty-printed.
pub fn document(raw: &str) -> String {
    let mut spec: Value = serde_json::from_str(raw).expect("BUG: poem-openapi renders valid JSON");
    collapse_annotated_refs(&mut spec);
    close_request_objects(&mut spec);
    serde_json::to_string_pretty(&spec).expect("BUG: a JSON value serializes")
}

/// `allOf: [{$ref}, {annotations}]` → `allOf: [{$ref}]`, anywhere in the
/// document, when the annotations also stand beside `allOf`.
fn collapse_annotated_refs(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Array(members)) = object.get("allOf")
                && let [Value::Object(reference), Value::Object(annotations)] = members.as_slice()
                && reference.contains_key("$ref")
                && annotations.iter().all(|(key, v)| ANNOTATIONS.contains(&key.as_str()) && object.get(key) == Some(v))
            {
                let reference = Value::Object(reference.clone());
                object.insert("allOf".to_owned(), Value::Array(vec![reference]));
            }
            object.values_mut().for_each(collapse_annotated_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(collapse_annotated_refs),
        _ => {}
    }
}

/// `additionalProperties: false` on every component schema that a request
/// body refers to.
fn close_request_objects(spec: &mut Value) {
    let mut names = BTreeSet::new();
    for operation in operations(spec) {
        for media in operation["requestBody"]["content"].as_object().into_iter().flat_map(Map::values) {
            if let Some(name) = media["schema"]["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
                names.insert(name.to_owned());
            }
        }
    }
    for name in names {
        if let Some(Value::Object(schema)) = spec["components"]["schemas"].get_mut(&name) {
            schema.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
    }
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every operation object of `spec`.
fn operations(spec: &Value) -> impl Iterator<Item = &Value> {
    spec["paths"]
        .as_object()
        .into_iter()
        .flat_map(Map::values)
        .flat_map(|item| METHODS.iter().filter_map(move |method| item.get(*method)))
}

/// The methods of each documented path, to answer a 405 with `Allow`.
#[derive(Debug, Clone)]
pub struct AllowedMethods {
    /// Path templates split into segments (`None` for a `{parameter}`),
    /// with their methods in upper case, comma-separated.
    paths: Vec<(Vec<Option<String>>, String)>,
}

impl AllowedMethods {
    /// Reads the paths and methods of a rendered document.
    pub fn from_document(document: &str) -> Self {
        let spec: Value = serde_json::from_str(document).expect("BUG: the document is JSON");
        let paths = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(template, item)| {
                let segments = template
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
                    .collect();
                let methods: Vec<String> =
                    METHODS.iter().filter(|m| item.get(**m).is_some()).map(|m| m.to_uppercase()).collect();
                (segments, methods.join(", "))
            })
            .collect();
        Self { paths }
    }

    /// The methods of the documented path that `path` matches, preferring
    /// the template with the most fixed segments (`/users/me` over
    /// `/users/{user_id}`).
    pub fn of(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.trim_start_matches('/').trim_end_matches('/').split('/').collect();
        self.paths
            .iter()
            .filter(|(template, _)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| match t {
                        Some(fixed) => fixed == s,
                        None => !s.is_empty(),
                    })
            })
            .max_by_key(|(template, _)| template.iter().filter(|t| t.is_some()).count())
            .map(|(_, methods)| methods.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_annotated_reference_keeps_its_annotations_beside_a_lone_ref() {
        let raw = json!({"components": {"schemas": {"A": {"type": "object", "properties": {"p": {
            "description": "d", "nullable": true,
            "allOf": [{"$ref": "#/components/schemas/E"}, {"description": "d", "nullable": true}]
        }}}}}});

        let spec: Value = serde_json::from_str(&document(&raw.to_string())).unwrap();

        assert_eq!(
            spec["components"]["schemas"]["A"]["properties"]["p"],
            json!({"description": "d", "nullable": true, "allOf": [{"$ref": "#/components/schemas/E"}]})
        );
    }

    #[test]
    fn a_composition_that_constrains_is_left_alone() {
        let p = json!({"allOf": [{"$ref": "#/components/schemas/E"}, {"type": "object", "required": ["x"]}]});
        let raw = json!({"components": {"schemas": {"A": {"properties": {"p": p.clone()}}}}});

        let spec: Value = serde_json::from_str(&document(&raw.to_string())).unwrap();

        assert_eq!(spec["components"]["schemas"]["A"]["properties"]["p"], p);
    }

    #[test]
    fn request_body_objects_are_closed_and_response_objects_are_not() {
        let body = |name: &str| json!({"content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}});
        let raw = json!({
            "paths": {"/things": {"post": {"requestBody": body("NewThing"), "responses": {"201": body("Thing")}}}},
            "components": {"schemas": {"NewThing": {"type": "object"}, "Thing": {"type": "object"}}}
        });

        let spec: Value = serde_json::from_str(&document(&raw.to_string())).unwrap();

        assert_eq!(spec["components"]["schemas"]["NewThing"]["additionalProperties"], json!(false));
        assert!(spec["components"]["schemas"]["Thing"].get("additionalProperties").is_none());
    }

    #[test]
    fn the_allowed_methods_of_a_path_come_from_its_most_specific_template() {
        let allowed = AllowedMethods::from_document(
            &json!({"paths": {
                "/users/{user_id}": {"get": {}, "put": {}, "delete": {}},
                "/users/me": {"get": {}},
                "/users": {"get": {}, "post": {}, "parameters": []}
            }})
            .to_string(),
        );

        assert_eq!(allowed.of("/users"), Some("GET, POST"));
        assert_eq!(allowed.of("/users/me"), Some("GET"));
        assert_eq!(allowed.of("/users/4b6f0d6e-0000-4000-8000-000000000000"), Some("GET, PUT, DELETE"));
        assert_eq!(allowed.of("/users/a/b"), None);
    }
}
