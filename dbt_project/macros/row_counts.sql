{#-
  Post-hook of every model and snapshot (dbt_project.yml): log the relation's row count and,
  for a model with a `range_column` on a ranged run, its rows in the run's range, in the line
  `row counts of <unique_id>: {json}`. Dagster reads the line from dbt's log and puts the counts
  on the materialization as soon as dbt reports the model: while dbt runs the DuckDB file is
  dbt's alone, so counting from Dagster would hold every event until dbt exits.
-#}
{% macro log_row_counts() -%}
    {%- if execute -%}
        {%- set range_column = config.get('range_column') -%}
        {%- set range = partition_range() if range_column else none -%}
        {%- set counts_sql -%}
            select count(*) as row_count
            {%- if range %}, count(*) filter (where {{ in_partition_range(adapter.quote(range_column)) }}) as partition_range_row_count{% endif %}
            from {{ this }}
        {%- endset -%}
        {%- set table = run_query(counts_sql) -%}
        {%- set counts = {} -%}
        {%- for name in table.column_names -%}
            {%- do counts.update({name: table.rows[0][name] | int}) -%}
        {%- endfor -%}
        {{ log('row counts of ' ~ model.unique_id ~ ': ' ~ tojson(counts), info=true) }}
    {%- endif -%}
{%- endmacro %}
