"""The pipeline on files: frame sources and writers, drawing, the `deephar-ros` command line and its
`run` job, the precision guard's crops of people. It imports the layers below it."""
