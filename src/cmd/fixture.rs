//! `rca fixture`: build a fixture repository from its YAML description.

use crate::cli::FixtureArgs;
use crate::error::InputContext;
use crate::fixture;
use anyhow::Result;

pub fn run(args: FixtureArgs) -> Result<()> {
    let spec = fixture::load(&args.spec).input_err(|| args.spec.display().to_string())?;
    if args.out.exists()
        && args
            .out
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(crate::error::input(format!(
            "{} already exists and is not empty",
            args.out.display()
        )));
    }
    let built = fixture::build(&spec, &args.out, args.bare)?;
    let cases_path = args.out.with_extension("cases.yaml");
    std::fs::write(&cases_path, fixture::cases_yaml(&spec, &built))?;
    super::out(&format!(
        "built {} at {}\ncases: {}\nculprit: {}\n",
        args.spec.display(),
        built.path.display(),
        cases_path.display(),
        built.culprit
    ))
}
