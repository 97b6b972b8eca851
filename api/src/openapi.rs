//! What the OpenAPI document says about paths, for the middleware: the
//! methods of each path, for the `Allow` header of a 405.

use serde_json::Value;

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

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
