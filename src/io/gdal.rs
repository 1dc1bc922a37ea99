//! GDAL-backed reading (GeoPackage, Shapefile, FlatGeobuf, CSV, OSM PBF) and writing (FlatGeobuf,
//! GeoPackage). Datasets are opened, read and closed inside each call.
