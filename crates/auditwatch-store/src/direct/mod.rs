//! Readers that answer without the query engine, straight from the segment files:
//! typed lookups ([`lookups`]), single records out of their Parquet pages
//! ([`raw_pages`]), the token index embedded in each segment ([`token_index`]),
//! breakdowns and histograms counted over dictionary codes ([`counts`]), and the
//! streaming scans detection and `hunt` read ([`scan`]).

pub mod counts;
pub mod lookups;
pub(crate) mod raw_pages;
pub mod scan;
pub mod token_index;
