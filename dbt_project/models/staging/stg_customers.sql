{#-
  One row per customer: the attributes from the latest day (then load) the customer was seen;
  rows that tie on both are ordered by their values, so a rebuild picks the same row.
-#}
select
    customer_id,
    customer_name,
    customer_segment,
    signup_date
from {{ source('raw', 'customers') }}
qualify row_number() over (
    partition by customer_id
    order by
        partition_date desc,
        etl_loaded_at desc,
        customer_name asc,
        customer_segment asc,
        signup_date asc,
        etl_run_id asc
) = 1
