{#-
  One row per order (the latest update, then the latest load of it), with amounts, currency and
  status cleaned. Rows that tie on both are ordered by their values, so a rebuild picks the same
  row whatever order the raw rows are stored in.
-#}
with latest as (
    select *
    from {{ source('raw', 'orders') }}
    qualify row_number() over (
        partition by order_id
        order by
            updated_at desc nulls last,
            etl_loaded_at desc,
            status asc,
            total_amount asc,
            currency asc,
            customer_id asc,
            order_date asc,
            partition_date asc,
            etl_run_id asc
    ) = 1
)

select
    order_id,
    customer_id,
    order_date,
    cast(date_trunc('month', order_date) as date) as order_month,
    total_amount as raw_total_amount,
    {{ parse_amount('total_amount') }} as cleaned_total_amount,
    {{ parse_amount('total_amount') }} is null as is_amount_unparseable,
    upper(trim(currency)) as currency,
    status as raw_status,
    {{ standardize_status('status') }} as standardized_status,
    updated_at,
    partition_date,
    etl_loaded_at
from latest
