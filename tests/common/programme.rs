//! A small renovation programme for a generated city (the browser and OpenAPI tests serve one).

use std::path::Path;

/// Writes a renovation programme for every fifth estate of a generated city into `dir`
/// (`projects.csv`, `surveys.csv`, `wishes.csv`): statuses in turn planned, started, completed,
/// accepted; completed and accepted projects surveyed, every third completed one at 70 % (below
/// the 80 % gate); two wishes per project estate.
pub fn write_programme(dir: &Path) {
    let estates: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("estates.geojson")).expect("the generated estates read")).expect("the generated estates are JSON");
    let mut projects = String::from("id,estate_id,batch_year,street,buildings,households,floor_area_m2,category,items,investment_city,investment_district,investment_utility,status,complete_pct\n");
    let mut surveys = String::from("project_id,date,respondents,satisfied\n");
    let mut wishes = String::from("estate_id,item,count\n");
    for (n, f) in estates["features"].as_array().expect("a FeatureCollection").iter().step_by(5).enumerate() {
        let id = f["properties"]["id"].as_i64().expect("generated estates have whole-number ids");
        let households = f["properties"]["households"].as_i64().unwrap_or(200);
        let (status, complete) = [("planned", 0), ("started", 40), ("completed", 100), ("accepted", 100)][n % 4];
        let area = households * 90;
        let total = area * 350;
        let (city, district) = (total / 5, total * 15 / 100);
        let _ = std::fmt::Write::write_fmt(&mut projects, format_args!("P{id},{id},2020,街道{},4,{households},{area},basic,pipes;roof,{city},{district},{},{status},{complete}\n", n % 3, total - city - district));
        if complete == 100 {
            let satisfied = if status == "completed" && n % 3 == 0 { 70 } else { 90 };
            let _ = std::fmt::Write::write_fmt(&mut surveys, format_args!("P{id},2021-05-01,100,{satisfied}\n"));
        }
        let _ = std::fmt::Write::write_fmt(&mut wishes, format_args!("{id},day_care,{}\n{id},parking,{}\n", 20 + n % 7, 10 + n % 5));
    }
    for (name, text) in [("projects.csv", projects), ("surveys.csv", surveys), ("wishes.csv", wishes)] {
        std::fs::write(dir.join(name), text).expect("the programme files are written");
    }
}

/// `[programme]` over [`write_programme`]'s files, with the demo's basic split (city 20 %,
/// district 15 %, utility 65 %).
pub const PROGRAMME: &str = "\n[programme]\nprojects = { path = \"projects.csv\" }\nsurveys = { path = \"surveys.csv\" }\nwishes = { path = \"wishes.csv\" }\n\n[[programme.funding]]\ncategory = \"basic\"\nshares_pct = { city = 20, district = 15, utility = 65 }\n";
