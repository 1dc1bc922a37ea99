/// Why an analysis cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AnalysisError {
    /// The index was built for a different catalogue.
    #[error("the facility index has {index} kinds but the catalogue has {catalogue}; rebuild the index from this catalogue")]
    CatalogueMismatch {
        /// Kinds in the index.
        index: usize,
        /// Kinds in the catalogue.
        catalogue: usize,
    },
    /// The catalogue itself is invalid.
    #[error(transparent)]
    Catalogue(#[from] crate::model::CatalogueError),
}
