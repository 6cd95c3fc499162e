{#- One row per customer: the attributes from the latest day the customer was seen. -#}
select
    customer_id,
    customer_name,
    customer_segment,
    signup_date
from {{ source('raw', 'customers') }}
qualify row_number() over (
    partition by customer_id
    order by partition_date desc, etl_loaded_at desc
) = 1
