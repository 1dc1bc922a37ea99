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
    /// The walking network was prepared for another estate or facility list.
    #[error("the walking network was prepared for {prepared} {what} but {given} were given; prepare it from these {what}")]
    NetworkMismatch {
        /// `estates` or `facilities`.
        what: &'static str,
        /// How many it was prepared for.
        prepared: usize,
        /// How many were given.
        given: usize,
    },
    /// A coverage timeline was read for other estates or another catalogue than it was built for.
    #[error("the coverage timeline was built for {built} {what} but {given} were given; build it from these {what}")]
    TimelineMismatch {
        /// `estates` or `kinds`.
        what: &'static str,
        /// How many it was built for.
        built: usize,
        /// How many were given.
        given: usize,
    },
    /// A coverage timeline with more steps than it can number.
    #[error("the coverage timeline has {steps} changes of estate × kind cells, more than 2^32 - 1: narrow its years")]
    TooManySteps {
        /// Steps found.
        steps: usize,
    },
    /// A coverage timeline was asked for a year outside its span.
    #[error("the coverage timeline does not answer {year}; build it over a span that includes that year")]
    YearOutsideTimeline {
        /// The year asked for.
        year: i32,
    },
    /// The catalogue itself is invalid.
    #[error(transparent)]
    Catalogue(#[from] crate::model::CatalogueError),
}
