//! `ferry/options.proto`, built in, and what it marks in compiled files.

use std::collections::HashSet;

use prost_reflect::{DescriptorPool, Value};
use protox::file::{File, FileResolver};

/// The import name.
pub(crate) const NAME: &str = "ferry/options.proto";

const SOURCE: &str = include_str!("../proto/ferry/options.proto");

/// Resolves `ferry/options.proto` without an include path.
#[derive(Debug)]
pub(crate) struct OptionsResolver;

impl FileResolver for OptionsResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == NAME {
            File::from_source(NAME, SOURCE)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// The `/package.Service/Method` paths of methods marked
/// `option (ferry.one_way) = true`.
pub(crate) fn one_way_methods(pool: &DescriptorPool) -> HashSet<String> {
    let Some(extension) = pool.get_extension_by_name("ferry.one_way") else {
        return HashSet::new();
    };
    pool.services()
        .flat_map(|service| service.methods().collect::<Vec<_>>())
        .filter(|method| {
            let options = method.options();
            options.has_extension(&extension)
                && matches!(
                    options.get_extension(&extension).as_ref(),
                    Value::Bool(true)
                )
        })
        .map(|method| format!("/{}/{}", method.parent_service().full_name(), method.name()))
        .collect()
}
